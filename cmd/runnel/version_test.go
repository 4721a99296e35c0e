package main

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionText(t *testing.T) {
	vcs := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	tail := " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	for _, c := range []struct {
		name            string
		version, commit string
		bi              *debug.BuildInfo
		want            string
	}{
		{"no build info", "", "", nil, "runnel devel\ncommit: unknown\ngo: " + runtime.Version() + tail},
		{"go build in a clean tree", "", "", &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Version: "(devel)"},
			Settings: vcs("vcs.revision", "abc123", "vcs.time", "2026-12-01T10:00:00Z", "vcs.modified", "false")},
			"runnel devel\ncommit: abc123 (2026-12-01T10:00:00Z)\ngo: go1.26.1" + tail},
		{"go build in a dirty tree", "", "", &debug.BuildInfo{GoVersion: "go1.26.1",
			Settings: vcs("vcs.revision", "abc123", "vcs.modified", "true")},
			"runnel devel\ncommit: abc123+dirty\ngo: go1.26.1" + tail},
		{"go install of a release", "", "", &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Version: "v1.2.3"}},
			"runnel v1.2.3\ncommit: unknown\ngo: go1.26.1" + tail},
		{"stamped by the Makefile", "v1.2.3-4-gabc123", "abc123+dirty", &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Version: "(devel)"}},
			"runnel v1.2.3-4-gabc123\ncommit: abc123+dirty\ngo: go1.26.1" + tail},
	} {
		if got := versionText(c.version, c.commit, c.bi); got != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
	}
}

// TestVersionCommand: "runnel version" and "runnel --version" print the same
// three lines, the Go version among them; arguments are refused.
func TestVersionCommand(t *testing.T) {
	a := runnel(t, nil, "version")
	b := runnel(t, nil, "--version")
	if a.code != 0 || b.code != 0 || a.stderr != "" || b.stderr != "" {
		t.Fatalf("exit %d/%d, stderr %q/%q", a.code, b.code, a.stderr, b.stderr)
	}
	if a.stdout != b.stdout {
		t.Fatalf("version and --version differ:\n%s\n%s", a.stdout, b.stdout)
	}
	lines := strings.Split(strings.TrimSuffix(a.stdout, "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "runnel ") || !strings.HasPrefix(lines[1], "commit: ") ||
		!strings.HasPrefix(lines[2], "go: "+runtime.Version()) {
		t.Fatalf("runnel version printed:\n%s", a.stdout)
	}
	wantUsageError(t, runnel(t, nil, "version", "extra"), `unexpected argument "extra"`)
}
