# bash completion for keywatch (installed by `meson install` into
# share/bash-completion/completions/keywatch). Commands, each command's
# options (the same as its --help; tests/integration/completions.py checks
# that), and the values options take.

_keywatch()
{
	local cur prev cmd opts i
	COMPREPLY=()
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD - 1]}
	# "--color=al": bash splits at '=' (COMP_WORDBREAKS).
	if [[ $cur == "=" ]]; then
		prev=${COMP_WORDS[COMP_CWORD - 1]}
		cur=""
	elif [[ $prev == "=" && $COMP_CWORD -ge 2 ]]; then
		prev=${COMP_WORDS[COMP_CWORD - 2]}
	fi

	if [[ $COMP_CWORD -eq 1 ]]; then
		COMPREPLY=($(compgen -W "scan watch check test-sink version help --help --version" -- "$cur"))
		return
	fi
	cmd=${COMP_WORDS[1]}

	case $prev in
	-o | --output)
		COMPREPLY=($(compgen -W "text json none" -- "$cur"))
		return ;;
	-f | --format)
		COMPREPLY=($(compgen -W "auto keywatch cloudtrail" -- "$cur"))
		return ;;
	--min-severity | --fail-on)
		COMPREPLY=($(compgen -W "info low medium high critical" -- "$cur"))
		return ;;
	--color)
		COMPREPLY=($(compgen -W "auto always never" -- "$cur"))
		return ;;
	--report-format)
		COMPREPLY=($(compgen -W "text html" -- "$cur"))
		return ;;
	-c | --config | --report | --state | --geoip)
		COMPREPLY=($(compgen -f -- "$cur"))
		return ;;
	-m | --models)
		COMPREPLY=($(compgen -d -- "$cur"))
		return ;;
	--map | --learn | --lateness | --max-line | --max-keys | -j | --threads)
		return ;;
	esac

	case $cmd in
	scan)
		opts="--config --format --map --models --geoip --state --learn
		      --lateness --output --min-severity --color --fail-on --report
		      --report-format --max-line --max-keys --threads --quiet --verbose --help" ;;
	watch)
		opts="--config --check --format --map --models --geoip --state
		      --learn --lateness --min-severity --color --max-line --max-keys
		      --threads --quiet --verbose --help" ;;
	check)
		opts="--config --format --models --geoip --map --color --quiet
		      --verbose --help" ;;
	test-sink)
		opts="--config --color --quiet --help" ;;
	*)
		return ;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$opts" -- "$cur"))
	elif [[ $cmd == scan || $cmd == check ]]; then
		COMPREPLY=($(compgen -f -- "$cur"))
	elif [[ $cmd == test-sink ]]; then
		COMPREPLY=($(compgen -W "stdout file webhook slack discord teams mattermost pagerduty syslog exec" -- "$cur"))
	fi
}

complete -o filenames -F _keywatch keywatch
