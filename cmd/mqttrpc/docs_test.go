package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// TestDocs prints the AsyncAPI asyncDoc of a fleet found through
// discovery, as YAML and as JSON, and has the official AsyncAPI parser
// validate both.
func TestDocs(t *testing.T) {
	for name, url := range brokers(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := startFleet(t, url)
			docs := func(args ...string) []byte {
				t.Helper()
				r := cli(t, "", append(append([]string{"docs"}, args...), "-s", url, "--prefix", f.prefix)...)
				require.Equal(t, exitOK, r.code, "%q: %s", args, r.stderr)
				assert.Empty(t, r.stderr, "%q", args)
				return []byte(r.stdout)
			}
			y, j := docs(), docs("--json")
			// The same document: the YAML, read and written as JSON, is the JSON.
			var fromYAML any
			require.NoError(t, yaml.Unmarshal(y, &fromYAML))
			asJSON, err := json.Marshal(fromYAML)
			require.NoError(t, err)
			assert.JSONEq(t, string(j), string(asJSON))
			var fromJSON asyncDoc
			require.NoError(t, json.Unmarshal(j, &fromJSON))

			assert.Equal(t, "billing, orders", fromJSON.Info["title"])
			assert.Equal(t, map[string]any{"host": hostOf(t, url), "protocol": "mqtt", "protocolVersion": "5"}, fromJSON.Servers["broker"])
			// The two instances of orders serve create on patterns of their own.
			assert.ElementsMatch(t, []string{"billing.charge", "orders.cancel", "orders.cancel.2", "orders.create", "orders.create.2",
				"mqttrpc.discovery.PING", "mqttrpc.discovery.INFO", "mqttrpc.discovery.STATS"}, keys(fromJSON.Operations))
			assert.Equal(t, f.prefix+"/INFO", fromJSON.Channels["mqttrpc.discovery.INFO"]["address"])
			assert.Equal(t, f.base+"/orders/0/{item}", fromJSON.Channels["orders.create"]["address"])
			assert.Equal(t, f.base+"/orders/1/{item}", fromJSON.Channels["orders.create.2"]["address"])
			assert.Contains(t, fromJSON.Channels, "orders.create.reply")

			var only asyncDoc
			require.NoError(t, json.Unmarshal(docs("billing", f.billing, "--json"), &only))
			assert.Contains(t, only.Operations, "billing.charge")
			assert.NotContains(t, only.Operations, "orders.create")

			requireValidAsyncAPI(t, map[string][]byte{"docs.yaml": y, "docs.json": j})
		})
	}
}

// asyncDoc is the part of an AsyncAPI asyncDoc the tests read.
type asyncDoc struct {
	Info       map[string]any            `json:"info"`
	Servers    map[string]any            `json:"servers"`
	Channels   map[string]map[string]any `json:"channels"`
	Operations map[string]any            `json:"operations"`
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func hostOf(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	return u.Host
}

// requireValidAsyncAPI has the official AsyncAPI parser, installed in
// interop/js by npm ci, validate docs, files named by their keys, in one
// run. Without node or the parser it skips the test, or fails it in CI.
func requireValidAsyncAPI(t *testing.T, docs map[string][]byte) {
	t.Helper()
	const dir = "../../interop/js"
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
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@asyncapi", "parser", "package.json")); err != nil {
		missing("@asyncapi/parser not installed in " + dir)
	}
	args := []string{filepath.Join(dir, "asyncapi-validate.mjs")}
	tmp := t.TempDir()
	for name, doc := range docs {
		file := filepath.Join(tmp, name)
		require.NoError(t, os.WriteFile(file, doc, 0o644))
		args = append(args, file)
	}
	var out bytes.Buffer
	cmd := exec.Command(node, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("running the parser: %v", err)
	}
	if err != nil || out.Len() > 0 {
		t.Fatalf("@asyncapi/parser: %v\n%s", err, out.String())
	}
}
