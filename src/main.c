/*
 * main.c - dispatch to the commands in cli/.
 */
#include <stdio.h>

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "keywatch: not built yet\n");
	return 2;
}
