package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"
)

const completionHelp = `Usage: mqttrpc completion bash|zsh|fish

Prints a script that completes the commands of mqttrpc, their flags and the
values of some (--type, --qos, --protocol-version, files), for the shell
named. Load it for the current shell, or install it for every new one:

  bash:  source <(mqttrpc completion bash)
         mqttrpc completion bash > ~/.local/share/bash-completion/completions/mqttrpc
  zsh:   source <(mqttrpc completion zsh)         (after compinit)
         mqttrpc completion zsh > "${fpath[1]}/_mqttrpc"
  fish:  mqttrpc completion fish | source
         mqttrpc completion fish > ~/.config/fish/completions/mqttrpc.fish
`

// runCompletion is the completion command.
func runCompletion(_ context.Context, args []string, s streams) error {
	pos, err := parseArgs(newFlagSet("completion"), args, completionHelp, s.stdout)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one shell: bash, zsh or fish")
	}
	switch pos[0] {
	case "bash":
		return writeBash(s.stdout)
	case "zsh":
		return writeZsh(s.stdout)
	case "fish":
		return writeFish(s.stdout)
	}
	return usagef("unknown shell %q: want bash, zsh or fish", pos[0])
}

// flagDoc is a flag as a command's help describes it.
type flagDoc struct {
	short, long string // without dashes; short may be empty
	arg         string // the name of its value, as FILE or N; empty for a switch
	summary     string // its description, up to the first ';'
}

// flagLine matches a flag's lines in a help text: "  -q, --qos N   QoS ..."
// or "      --json   print ...", and the lines indented below that go on
// with its description.
var flagLine = regexp.MustCompile(`(?m)^(?:  -([a-zA-Z]), |      )--([a-z][a-z0-9-]*)(?: ([A-Z][A-Z=_-]*))?\s+(.*(?:\n {20,}\S.*)*)$`)

// flagsOf returns the flags a help text describes, in order.
func flagsOf(help string) []flagDoc {
	var fs []flagDoc
	for _, m := range flagLine.FindAllStringSubmatch(help, -1) {
		summary, _, _ := strings.Cut(strings.Join(strings.Fields(m[4]), " "), ";")
		fs = append(fs, flagDoc{short: m[1], long: m[2], arg: m[3], summary: summary})
	}
	return fs
}

// flagValues lists the values completed for a flag's argument, by the
// flag's long name; "" where any value goes. fileFlags take file names.
var (
	flagValues = map[string]string{
		"type":             "text json bytes",
		"qos":              "0 1 2",
		"protocol-version": "5 3.1.1",
	}
	fileFlags = map[string]bool{"cafile": true, "cert": true, "key": true, "password-file": true}
	shells    = "bash zsh fish"
)

func writeBash(w io.Writer) error {
	var b strings.Builder
	b.WriteString(`# bash completion for mqttrpc: source <(mqttrpc completion bash)
_mqttrpc() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} words=
	if [[ $COMP_CWORD -eq 1 ]]; then
		COMPREPLY=($(compgen -W "`)
	for _, c := range commands {
		b.WriteString(c.name + " ")
	}
	b.WriteString(`help --version" -- "$cur"))
		return
	fi
	case $prev in
`)
	for long, values := range sortedMap(flagValues) {
		short := ""
		for _, c := range commands {
			for _, f := range flagsOf(c.help) {
				if f.long == long && f.short != "" {
					short = "-" + f.short + "|"
				}
			}
		}
		fmt.Fprintf(&b, "\t%s--%s) COMPREPLY=($(compgen -W %q -- \"$cur\")); return ;;\n", short, long, values)
	}
	var files []string
	for long := range sortedMap(fileFlags) {
		files = append(files, "--"+long)
	}
	fmt.Fprintf(&b, "\t%s) COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n\tesac\n", strings.Join(files, "|"))
	b.WriteString("\tcase ${COMP_WORDS[1]} in\n")
	for _, c := range commands {
		var words []string
		for _, f := range flagsOf(c.help) {
			if f.short != "" {
				words = append(words, "-"+f.short)
			}
			words = append(words, "--"+f.long)
		}
		fmt.Fprintf(&b, "\t%s) words=%q ;;\n", c.name, strings.Join(append(words, "-h"), " "))
	}
	fmt.Fprintf(&b, `	esac
	if [[ ${COMP_WORDS[1]} == completion && $cur != -* ]]; then
		words=%q
	elif [[ $cur != -* ]]; then
		return # a topic, name or body: the shell's default
	fi
	COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _mqttrpc mqttrpc
`, shells)
	_, err := io.WriteString(w, b.String())
	return err
}

func writeZsh(w io.Writer) error {
	var b strings.Builder
	b.WriteString("#compdef mqttrpc\n# zsh completion for mqttrpc: source <(mqttrpc completion zsh)\n_mqttrpc() {\n\tlocal -a cmds\n\tcmds=(\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "\t\t%s\n", zshQuote(c.name+":"+c.summary))
	}
	b.WriteString("\t)\n\tif (( CURRENT == 2 )); then\n\t\t_describe -t commands 'mqttrpc command' cmds\n\t\treturn\n\tfi\n")
	b.WriteString("\tlocal cmd=$words[2]\n\tshift words\n\t(( CURRENT-- ))\n\tcase $cmd in\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "\t%s)\n\t\t_arguments -s", c.name)
		for _, f := range flagsOf(c.help) {
			action := ""
			if f.arg != "" {
				action = ":" + f.arg + ":"
				switch {
				case flagValues[f.long] != "":
					action += "(" + flagValues[f.long] + ")"
				case fileFlags[f.long]:
					action += "_files"
				default:
					action += " "
				}
			}
			names := []string{"--" + f.long}
			if f.short != "" {
				names = append(names, "-"+f.short)
			}
			for _, n := range names {
				fmt.Fprintf(&b, " \\\n\t\t\t%s", zshQuote("*"+n+"["+zshDesc(f.summary)+"]"+action))
			}
		}
		if c.name == "completion" {
			fmt.Fprintf(&b, " \\\n\t\t\t%s", zshQuote("1:shell:("+shells+")"))
		} else {
			b.WriteString(" \\\n\t\t\t'*:argument:_default'")
		}
		b.WriteString(" ;;\n")
	}
	b.WriteString("\tesac\n}\nif [[ $funcstack[1] == _mqttrpc ]]; then\n\t_mqttrpc \"$@\"\nelse\n\tcompdef _mqttrpc mqttrpc\nfi\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func writeFish(w io.Writer) error {
	var b strings.Builder
	b.WriteString("# fish completion for mqttrpc: mqttrpc completion fish | source\ncomplete -c mqttrpc -e\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "complete -c mqttrpc -f -n '__fish_use_subcommand' -a %s -d %s\n", c.name, fishQuote(c.summary))
	}
	fmt.Fprintf(&b, "complete -c mqttrpc -f -n '__fish_seen_subcommand_from completion' -a %s\n", fishQuote(shells))
	for _, c := range commands {
		for _, f := range flagsOf(c.help) {
			fmt.Fprintf(&b, "complete -c mqttrpc -n '__fish_seen_subcommand_from %s' -l %s", c.name, f.long)
			if f.short != "" {
				fmt.Fprintf(&b, " -s %s", f.short)
			}
			switch {
			case f.arg == "":
				b.WriteString(" -f")
			case flagValues[f.long] != "":
				fmt.Fprintf(&b, " -x -a %s", fishQuote(flagValues[f.long]))
			case fileFlags[f.long]:
				b.WriteString(" -r -F")
			default:
				b.WriteString(" -x")
			}
			fmt.Fprintf(&b, " -d %s\n", fishQuote(f.summary))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// zshQuote quotes s in single quotes for zsh.
func zshQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// zshDesc makes s fit in the [description] of an _arguments spec.
func zshDesc(s string) string {
	return strings.NewReplacer("[", "(", "]", ")", ":", " -").Replace(s)
}

// fishQuote quotes s in single quotes for fish.
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, "'", `\'`).Replace(s) + "'"
}

// sortedMap yields the entries of m in the order of their keys, so that
// the scripts come out the same each time.
func sortedMap[V any](m map[string]V) func(yield func(string, V) bool) {
	return func(yield func(string, V) bool) {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if !yield(k, m[k]) {
				return
			}
		}
	}
}
