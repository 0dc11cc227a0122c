package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

const versionHelp = `Usage: mqttrpc version

Prints the version of the command's module, the commit it was built from
when the build recorded one, the version of the mqttrpc library in it, and
the Go version and platform it was built for. "mqttrpc --version" does the
same.
`

// runVersion is the version command.
func runVersion(_ context.Context, args []string, s streams) error {
	pos, err := parseArgs(newFlagSet("version"), args, versionHelp, s.stdout)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("want no arguments, got %q", pos)
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		_, err := fmt.Fprintf(s.stdout, "mqttrpc (unknown: built without module support)\n%s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return err
	}
	fmt.Fprintf(s.stdout, "mqttrpc %s\n", info.Main.Version)
	if rev, modified := vcs(info); rev != "" {
		fmt.Fprintf(s.stdout, "commit %s%s\n", rev, modified)
	}
	for _, d := range info.Deps {
		if d.Path == "github.com/mqttrpc/mqttrpc" {
			if d.Replace != nil {
				fmt.Fprintf(s.stdout, "library %s %s (from %s)\n", d.Path, d.Replace.Version, d.Replace.Path)
			} else {
				fmt.Fprintf(s.stdout, "library %s %s\n", d.Path, d.Version)
			}
		}
	}
	_, err = fmt.Fprintf(s.stdout, "%s %s/%s\n", info.GoVersion, runtime.GOOS, runtime.GOARCH)
	return err
}

// vcs returns the commit the build recorded, and " (modified)" if the
// working tree had changes.
func vcs(info *debug.BuildInfo) (rev, modified string) {
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = " (modified)"
			}
		}
	}
	return rev, modified
}
