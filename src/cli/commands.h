/*
 * commands.h — one function per `agentmem <command>`; each parses its own
 * arguments (argv[0] is the command name), prints its own --help, and
 * returns the process exit status (0 ok, 1 failure, 2 usage error).
 */
#ifndef AM_COMMANDS_H
#define AM_COMMANDS_H

int am_cmd_run(int argc, char **argv);
int am_cmd_logits(int argc, char **argv);
int am_cmd_perplexity(int argc, char **argv);
int am_cmd_bench(int argc, char **argv);
int am_cmd_mkmodel(int argc, char **argv);
int am_cmd_convert(int argc, char **argv);
int am_cmd_model(int argc, char **argv);
int am_cmd_tokenize(int argc, char **argv);
int am_cmd_detokenize(int argc, char **argv);
int am_cmd_template(int argc, char **argv);
int am_cmd_serve(int argc, char **argv);
int am_cmd_cache(int argc, char **argv);

#endif
