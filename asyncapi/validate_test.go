package asyncapi_test

import (
	"bytes"
	"errors"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// jsDir holds the official AsyncAPI parser, installed with npm ci.
const jsDir = "../interop/js"

// parserCommand returns the command that validates AsyncAPI documents with
// @asyncapi/parser. Without node or the parser it skips the test, and in CI,
// where the check exists to prove the documents valid, it fails it.
func parserCommand(t *testing.T) []string {
	t.Helper()
	missing := func(msg string) {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s (required in CI: npm ci in interop/js)", msg)
		}
		t.Skip(msg)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node not installed")
	}
	if _, err := os.Stat(filepath.Join(jsDir, "node_modules", "@asyncapi", "parser", "package.json")); err != nil {
		missing("@asyncapi/parser not installed in " + jsDir)
	}
	return []string{node, filepath.Join(jsDir, "asyncapi-validate.mjs")}
}

// parse runs the official parser once on docs, files named by their keys,
// and returns what it printed, each line starting with the file's path, and
// an error if it found an error in one of them. One run for many documents,
// as starting the parser takes seconds.
func parse(t *testing.T, docs map[string][]byte) (string, error) {
	t.Helper()
	cmd := parserCommand(t)
	dir := t.TempDir()
	for _, name := range slices.Sorted(maps.Keys(docs)) {
		file := filepath.Join(dir, name)
		if err := os.WriteFile(file, docs[name], 0o644); err != nil {
			t.Fatal(err)
		}
		cmd = append(cmd, file)
	}
	var out bytes.Buffer
	c := exec.Command(cmd[0], cmd[1:]...)
	c.Stdout, c.Stderr = &out, &out
	err := c.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("running the parser: %v", err)
	}
	return out.String(), err
}

// requireValid fails the test unless the official parser finds docs free
// of errors and warnings.
func requireValid(t *testing.T, docs map[string][]byte) {
	t.Helper()
	out, err := parse(t, docs)
	if err != nil || out != "" {
		t.Fatalf("@asyncapi/parser: %v\n%s", err, out)
	}
}
