package main

import (
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVersion prints the module's version and the Go version, as a
// command and as a flag.
func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := cli(t, "", args...)
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Regexp(t, `^mqttrpc \S+\n`, r.stdout)
		assert.Contains(t, r.stdout, runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH+"\n")
		assert.Empty(t, r.stderr)
	}
	r := cli(t, "", "version", "extra")
	assert.Equal(t, exitUsage, r.code)
}

// TestCompletion_flagsDefined: every flag a command's help lists, which
// the completion scripts offer, is one the command takes.
func TestCompletion_flagsDefined(t *testing.T) {
	for _, c := range commands {
		for _, f := range flagsOf(c.help) {
			names := []string{"--" + f.long}
			if f.short != "" {
				names = append(names, "-"+f.short)
			}
			for _, n := range names {
				r := cli(t, "", c.name, n+"=1", "-h")
				assert.NotContains(t, r.stderr, "not defined", "mqttrpc %s %s", c.name, n)
			}
		}
	}
	assert.NotEmpty(t, flagsOf(callHelp))
}

// TestCompletion_bash loads the bash script and completes command names,
// flags and flag values.
func TestCompletion_bash(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash not installed")
	}
	r := cli(t, "", "completion", "bash")
	require.Equal(t, exitOK, r.code, r.stderr)
	complete := func(words ...string) string {
		t.Helper()
		script := r.stdout + "\nCOMP_WORDS=(" + strings.Join(quoteAll(words), " ") + ")\nCOMP_CWORD=" +
			string(rune('0'+len(words)-1)) + "\n_mqttrpc\necho \"${COMPREPLY[@]}\"\n"
		out, err := exec.Command(bash, "-c", script).CombinedOutput()
		require.NoError(t, err, "%s", out)
		return strings.TrimSpace(string(out))
	}
	assert.Equal(t, "call completion", complete("mqttrpc", "c"))
	assert.Equal(t, "--timeout --token-reply --type", sortedWords(complete("mqttrpc", "call", "--t"), "--timeout --token-reply --type"))
	assert.Equal(t, "text json bytes", complete("mqttrpc", "call", "--type", ""))
	assert.Equal(t, "5 3.1.1", complete("mqttrpc", "ls", "-V", ""))
	assert.Equal(t, "bash zsh fish", complete("mqttrpc", "completion", ""))
	assert.Equal(t, "--password --password-file", complete("mqttrpc", "stats", "--pass"))
}

// TestCompletion_shells checks the syntax of each script with its shell,
// where installed.
func TestCompletion_shells(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		t.Run(shell, func(t *testing.T) {
			r := cli(t, "", "completion", shell)
			require.Equal(t, exitOK, r.code, r.stderr)
			assert.Contains(t, r.stdout, "mqttrpc")
			for _, c := range commands {
				assert.Contains(t, r.stdout, c.name)
			}
			bin, err := exec.LookPath(shell)
			if err != nil {
				t.Skipf("%s not installed", shell)
			}
			cmd := exec.Command(bin, "-n")
			cmd.Stdin = strings.NewReader(r.stdout)
			out, err := cmd.CombinedOutput()
			assert.NoError(t, err, "%s -n: %s", shell, out)
		})
	}
	r := cli(t, "", "completion", "tcsh")
	assert.Equal(t, exitUsage, r.code)
}

func quoteAll(words []string) []string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = "'" + w + "'"
	}
	return q
}

// sortedWords returns got if it holds the same words as want, in any
// order, and got as it is otherwise, for an assertion to show.
func sortedWords(got, want string) string {
	g, w := strings.Fields(got), strings.Fields(want)
	if len(g) != len(w) {
		return got
	}
	for _, x := range w {
		if !strings.Contains(" "+got+" ", " "+x+" ") {
			return got
		}
	}
	return want
}
