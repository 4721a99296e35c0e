// Command runnel is the one Runnel binary: each part of the system, and the
// tools to inspect it, is a subcommand. Run "runnel --help" for the list and
// "runnel <command> --help" for a command's flags.
//
// Every flag can also be set by an environment variable (RUNNEL_ and the flag
// name in upper case with dashes as underscores: --data-dir reads
// RUNNEL_DATA_DIR) or in the file named by --config (RUNNEL_CONFIG), one
// "name = value" per line. The command line wins over the environment, which
// wins over the config file, which wins over the default.
//
// Exit codes: 0 success, 1 failure (for "runnel log dump", damage found), 2 bad
// command line, environment or config file, with a one-line error on stderr.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(runMain(os.Args[1:]))
}

// runMain runs the command line args with the process's streams and
// environment. The first SIGINT or SIGTERM cancels the command's context; a
// second one kills the process as usual.
func runMain(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop()
	}()
	return run(ctx, rootCommand(), args, os.Stdout, os.Stderr, os.LookupEnv)
}

// rootCommand returns the command tree.
func rootCommand() *command {
	return &command{
		name: "runnel",
		help: "Runnel is a Kafka-compatible event bus with an HTTP and WebSocket gateway.",
		subs: []*command{
			devCommand(),
			brokerCommand(),
			gatewayCommand(),
			tokenCommand(),
			benchCommand(),
			adminCommand(),
			tierCommand(),
			versionCommand(),
			{
				name:    "log",
				summary: "inspect partition logs on disk",
				help:    "Tools that read a broker's partition logs directly from disk.",
				subs:    []*command{logDumpCommand()},
			},
		},
	}
}
