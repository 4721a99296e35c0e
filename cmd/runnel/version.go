package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version and commit are stamped by the Makefile with -ldflags "-X
// main.version=... -X main.commit=..." (git describe, git rev-parse). Without
// them the version comes from the module version in the build info ("go
// install ...@v1.2.3") or reads "devel", and the commit from the build
// info's vcs.revision and vcs.modified, which go build records unless
// -buildvcs=false.
var version, commit string

// versionCommand is "runnel version" (also "runnel --version").
func versionCommand() *command {
	return &command{
		name:    "version",
		summary: "print the version, commit and Go version",
		help: `Print the version of this binary, the git commit it was built from (with
"+dirty" when the tree had uncommitted changes) and the Go version it was
built with. "runnel --version" prints the same.`,
		run: func(_ context.Context, inv *invocation) error {
			bi, _ := debug.ReadBuildInfo()
			_, err := io.WriteString(inv.stdout, versionText(version, commit, bi))
			return err
		},
	}
}

// versionText formats what "runnel version" prints from the stamped version
// and commit (either may be empty) and the binary's build info (may be nil).
func versionText(stampedVersion, stampedCommit string, bi *debug.BuildInfo) string {
	v, rev, built, goVersion := stampedVersion, "", "", runtime.Version()
	if bi != nil {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
		var modified bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			case "vcs.time":
				built = s.Value
			}
		}
		if modified && rev != "" {
			rev += "+dirty"
		}
	}
	if v == "" {
		v = "devel"
	}
	switch {
	case stampedCommit != "":
		rev = stampedCommit
	case rev == "":
		rev = "unknown"
	case built != "":
		rev += " (" + built + ")"
	}
	return fmt.Sprintf("runnel %s\ncommit: %s\ngo: %s %s/%s\n", v, rev, goVersion, runtime.GOOS, runtime.GOARCH)
}
