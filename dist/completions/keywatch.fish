# fish completion for keywatch (installed by `meson install` into
# share/fish/vendor_completions.d/keywatch.fish).

set -l commands scan watch check test-sink version
complete -c keywatch -f
complete -c keywatch -n "not __fish_seen_subcommand_from $commands" -a scan -d 'analyse logs'
complete -c keywatch -n "not __fish_seen_subcommand_from $commands" -a watch -d 'run as a daemon'
complete -c keywatch -n "not __fish_seen_subcommand_from $commands" -a check -d 'validate the config'
complete -c keywatch -n "not __fish_seen_subcommand_from $commands" -a test-sink -d 'send a test alert through each sink'
complete -c keywatch -n "not __fish_seen_subcommand_from $commands" -a version -d 'print the version'

set -l run "__fish_seen_subcommand_from scan watch check"
complete -c keywatch -n $run -s c -l config -r -F -d 'JSON config'
complete -c keywatch -n $run -s f -l format -x -a 'auto keywatch cloudtrail' -d 'log format'
complete -c keywatch -n $run -l map -x -d 'map a log field onto an event field'
complete -c keywatch -n $run -s m -l models -x -a '(__fish_complete_directories)' -d 'where the API models are'
complete -c keywatch -n $run -l geoip -r -F -d 'a MaxMind DB file'
complete -c keywatch -n $run -l state -r -F -d 'learned state file'
complete -c keywatch -n $run -l learn -x -d 'learning period per key'
complete -c keywatch -n $run -s o -l output -x -a 'text json none' -d 'how alerts are written'
complete -c keywatch -n $run -l min-severity -x -a 'info low medium high critical' -d 'drop alerts below this'
complete -c keywatch -n $run -l color -x -a 'auto always never' -d 'colour text on a terminal'
complete -c keywatch -n $run -l lateness -x -d 'how long late events still count'
complete -c keywatch -n $run -l max-line -x -d 'longest line or record'
complete -c keywatch -n $run -l max-keys -x -d 'keys tracked at once'
complete -c keywatch -n $run -s q -l quiet -d 'only errors'
complete -c keywatch -n $run -s v -l verbose -d 'debug logging'
complete -c keywatch -n $run -s h -l help -d 'show the options'
complete -c keywatch -n "__fish_seen_subcommand_from scan watch" -s j -l threads -x -d 'threads that analyse'
complete -c keywatch -n "__fish_seen_subcommand_from scan" -l fail-on -x -a 'info low medium high critical' -d 'exit 1 at or above this'
complete -c keywatch -n "__fish_seen_subcommand_from scan" -l report -r -F -d 'write a report a person reads'
complete -c keywatch -n "__fish_seen_subcommand_from scan" -l report-format -x -a 'text html' -d 'the report as text or HTML'
complete -c keywatch -n "__fish_seen_subcommand_from scan check" -F
complete -c keywatch -n "__fish_seen_subcommand_from watch" -s n -l check -d 'check the config and exit'
complete -c keywatch -n "__fish_seen_subcommand_from test-sink" -s c -l config -r -F -d 'JSON config'
complete -c keywatch -n "__fish_seen_subcommand_from test-sink" -l color -x -a 'auto always never' -d 'colour text on a terminal'
complete -c keywatch -n "__fish_seen_subcommand_from test-sink" -s q -l quiet -d 'no summary line'
complete -c keywatch -n "__fish_seen_subcommand_from test-sink" -s h -l help -d 'show the options'
complete -c keywatch -n "__fish_seen_subcommand_from test-sink" -a 'stdout file webhook slack discord teams mattermost pagerduty syslog exec' -d 'sink type'
