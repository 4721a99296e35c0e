package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/runnel-dev/runnel/broker/commitlog"
	"github.com/runnel-dev/runnel/broker/recordbatch"
)

// writeTestLog writes a partition log of a few segments through the real Log
// and returns its directory.
func writeTestLog(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "orders-0")
	l, err := commitlog.Open(dir, commitlog.Options{SegmentBytes: 600, IndexIntervalBytes: 100, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 12; i++ {
		b, err := recordbatch.Build(recordbatch.BuildOptions{}, []recordbatch.Record{
			{Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("v%d", i)), Timestamp: 1_700_000_000_000 + int64(i)},
			{Value: []byte{0x00, 0xff}, Timestamp: 1_700_000_000_000 + int64(i)},
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(b, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLogDumpVerify(t *testing.T) {
	dir := writeTestLog(t)
	r := runnel(t, nil, "log", "dump", "--verify", dir)
	if r.code != 0 || r.stderr != "" || !strings.HasSuffix(r.stdout, "verify: no problems found\n") || strings.Count(r.stdout, "\nbaseOffset: ") != 12 {
		t.Fatalf("clean log: exit %d\nstdout:\n%s\nstderr: %q", r.code, r.stdout, r.stderr)
	}

	// Damage a copy: flip the last byte of the first segment, inside a
	// batch's records and so under its CRC.
	bad := filepath.Join(t.TempDir(), "orders-0")
	if err := os.CopyFS(bad, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	seg := filepath.Join(bad, "00000000000000000000.log")
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-1] ^= 0xff
	if err := os.WriteFile(seg, data, 0o644); err != nil {
		t.Fatal(err)
	}
	r = runnel(t, nil, "log", "dump", "--verify", bad)
	if r.code != 1 || !strings.Contains(r.stdout, "PROBLEM [corrupt-batch] 00000000000000000000.log position ") ||
		!strings.Contains(r.stdout, "isValid: false") || r.stderr != "runnel log dump: 1 problem(s) found in "+bad+"\n" {
		t.Fatalf("damaged log: exit %d\nstdout:\n%s\nstderr: %q", r.code, r.stdout, r.stderr)
	}
	// The damaged copy is left as it was.
	after, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != string(data) {
		t.Fatal("dump changed the damaged segment")
	}
}

func TestLogDumpFlagsFromEnvironmentAndConfig(t *testing.T) {
	dir := writeTestLog(t)
	const record = `| offset: 0 timestamp: 1700000000000 keySize: 2 valueSize: 2 key: "k0" value: "v0" headers: []`
	const binary = `| offset: 1 timestamp: 1700000000000 keySize: -1 valueSize: 2 key: null value: b64:AP8= headers: []`

	r := runnel(t, nil, "log", "dump", dir)
	if r.code != 0 || strings.Contains(r.stdout, "| offset:") || strings.Contains(r.stdout, "index:") {
		t.Fatalf("plain dump: exit %d\n%s", r.code, r.stdout)
	}
	r = runnel(t, []string{"RUNNEL_RECORDS=true"}, "log", "dump", dir)
	if r.code != 0 || !strings.Contains(r.stdout, record+"\n") || !strings.Contains(r.stdout, binary+"\n") {
		t.Fatalf("RUNNEL_RECORDS=true: exit %d\n%s", r.code, r.stdout)
	}
	conf := filepath.Join(t.TempDir(), "dump.conf")
	if err := os.WriteFile(conf, []byte("# dump everything\nindexes = true\nrecords = true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = runnel(t, nil, "log", "dump", "--config", conf, dir)
	if r.code != 0 || !strings.Contains(r.stdout, record) || !strings.Contains(r.stdout, "\noffset: 0 position: 0\n") {
		t.Fatalf("config file: exit %d\n%s", r.code, r.stdout)
	}
	// The environment wins over the config file, the command line over both.
	r = runnel(t, []string{"RUNNEL_RECORDS=false", "RUNNEL_CONFIG=" + conf}, "log", "dump", dir)
	if r.code != 0 || strings.Contains(r.stdout, "| offset:") || !strings.Contains(r.stdout, "\noffset: 0 position: 0\n") {
		t.Fatalf("env over config: exit %d\n%s", r.code, r.stdout)
	}
	r = runnel(t, []string{"RUNNEL_RECORDS=false", "RUNNEL_CONFIG=" + conf}, "log", "dump", dir, "--records")
	if r.code != 0 || !strings.Contains(r.stdout, record) {
		t.Fatalf("command line over env: exit %d\n%s", r.code, r.stdout)
	}
}

func TestLogDumpUsage(t *testing.T) {
	r := runnel(t, nil, "log", "dump", "--help")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("--help: exit %d, stderr %q", r.code, r.stderr)
	}
	for _, want := range []string{"Usage: runnel log dump [flags] DIR\n", "--records", "--verify", "--indexes", "--max-batch-bytes N", "[$RUNNEL_VERIFY]", "--config FILE"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("help lacks %q:\n%s", want, r.stdout)
		}
	}
	r = runnel(t, nil, "--help")
	if r.code != 0 || !regexp.MustCompile(`(?m)^  log +inspect partition logs on disk$`).MatchString(r.stdout) ||
		!regexp.MustCompile(`(?m)^  dev +run everything in one process`).MatchString(r.stdout) {
		t.Errorf("runnel --help: exit %d\n%s", r.code, r.stdout)
	}
	wantUsageError(t, runnel(t, nil, "log", "dump", "--verify"), "runnel log dump: missing DIR")
	wantUsageError(t, runnel(t, nil, "log", "dump", "a", "b"), `runnel log dump: unexpected argument "b"`)
	wantUsageError(t, runnel(t, nil, "log", "dump", "--verfy", "x"), "runnel log dump: flag provided but not defined: -verfy")
	wantUsageError(t, runnel(t, nil, "log", "dump", "--max-batch-bytes", "0", "x"), "--max-batch-bytes must be positive")
	wantUsageError(t, runnel(t, []string{"RUNNEL_VERIFY=perhaps"}, "log", "dump", "x"), `invalid value "perhaps" for RUNNEL_VERIFY`)
	wantUsageError(t, runnel(t, nil, "log", "dumb"), `runnel log: unknown command "dumb"`)
	wantUsageError(t, runnel(t, nil, "frobnicate"), `runnel: unknown command "frobnicate"`)

	r = runnel(t, nil, "log", "dump", filepath.Join(t.TempDir(), "missing"))
	if r.code != 1 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "no such file or directory") {
		t.Errorf("missing DIR: exit %d, stderr %q", r.code, r.stderr)
	}
}
