package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"

	"github.com/runnel-dev/runnel/broker/commitlog/logdump"
)

// logDumpCommand is "runnel log dump": kafka-dump-log for Runnel's logs.
func logDumpCommand() *command {
	var opts logdump.Options
	return &command{
		name:    "dump",
		summary: "print and check the segments of a partition log",
		args:    "DIR",
		minArgs: 1,
		maxArgs: 1,
		help: `Print a partition log as kafka-dump-log does: a line per segment and per batch
(offsets, position, size, codec, CRC and whether the batch is valid, producer
id/epoch/sequence, partition leader epoch, max timestamp, flags) and, with
--records, a line per record. DIR is a partition directory (<topic>-<partition>),
a data directory holding partition directories, or a single .log, .index or
.timeindex file.

The files are only read: never written, locked, truncated or recovered, so it
is safe on the log of a running broker.

--verify also checks that offsets are dense across batches and segments, that
every record decodes, that leader epochs never go back, and that every .index
and .timeindex entry agrees with the log. Each problem is printed as a line
starting with PROBLEM.

Exit status: 0 when no problem was found, 1 when the log is damaged (a bad CRC
or torn tail is found even without --verify) or cannot be read, 2 for bad usage.`,
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&opts.Records, "records", false, "print every record: offset, timestamp, key, value, headers")
			fs.BoolVar(&opts.Verify, "verify", false, "check offsets, records, leader epochs and indexes too; exit 1 on any problem")
			fs.BoolVar(&opts.Indexes, "indexes", false, "print the entries of the .index and .timeindex files")
			fs.IntVar(&opts.MaxBatchBytes, "max-batch-bytes", logdump.DefaultMaxBatchBytes, "report batches larger than `N` bytes instead of reading them")
		},
		run: func(ctx context.Context, inv *invocation) error {
			if opts.MaxBatchBytes <= 0 {
				return usagef("--max-batch-bytes must be positive")
			}
			out := bufio.NewWriterSize(inv.stdout, 64<<10)
			rep, err := logdump.Dump(ctx, out, inv.args[0], opts)
			if ferr := out.Flush(); err == nil {
				err = ferr
			}
			if err != nil {
				return err
			}
			if rep.Damaged() {
				return &exitError{code: exitFailure, msg: fmt.Sprintf("%d problem(s) found in %s", len(rep.Problems), inv.args[0])}
			}
			return nil
		},
	}
}
