package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// stringList is a flag that may be given more than once, keeping every value.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// newFlagSet returns a flag set for the command name that prints nothing
// itself: parseArgs prints the help, and run reports errors.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("mqttrpc "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseArgs parses flags wherever they stand among args, before or after
// the positional arguments, as most command-line tools allow, and returns
// the positional arguments. Everything after "--" is positional. With -h it
// writes help to stdout and returns flag.ErrHelp.
func parseArgs(fs *flag.FlagSet, args []string, help string, stdout io.Writer) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if err == flag.ErrHelp {
				fmt.Fprint(stdout, help)
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// boolFlags registers a boolean flag under several names.
func boolFlags(fs *flag.FlagSet, p *bool, names ...string) {
	for _, n := range names {
		fs.BoolVar(p, n, false, "")
	}
}

// stringFlags registers a string flag under several names.
func stringFlags(fs *flag.FlagSet, p *string, value string, names ...string) {
	for _, n := range names {
		fs.StringVar(p, n, value, "")
	}
}
