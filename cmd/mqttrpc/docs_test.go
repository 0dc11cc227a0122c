package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/asyncapi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

type thermoReading struct {
	Sensor  string  `json:"sensor"`
	Celsius float64 `json:"celsius"`
}

type query struct {
	Sensor string `json:"sensor"`
}

type progress struct {
	Percent int `json:"percent"`
}

// startThermo starts a service of typed endpoints on a Broker that makes
// their schemas, with metadata and a streaming endpoint.
func startThermo(t *testing.T, url string, f fleet) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	b := libBroker(t, url, mqttrpc.WithDiscoveryPrefix(f.prefix), mqttrpc.WithSchemaGenerator(asyncapi.JSONSchema))
	svc, err := b.Service(ctx, mqttrpc.ServiceConfig{Name: "thermo", Version: "1.2.0", Metadata: map[string]string{"site": "7"}})
	require.NoError(t, err)
	_, err = svc.Endpoint(ctx, "read", f.base+"/thermo/{sensor}", mqttrpc.Typed(func(_ context.Context, q query) (thermoReading, error) {
		return thermoReading{Sensor: q.Sensor, Celsius: 21.5}, nil
	}), mqttrpc.EndpointMetadata(map[string]string{"unit": "celsius"}))
	require.NoError(t, err)
	_, err = svc.Endpoint(ctx, "calibrate", f.base+"/thermo/{sensor}/calibrate", mqttrpc.TypedStream(
		func(_ context.Context, _ thermoReading, send func(progress) error) error {
			for _, pct := range []int{0, 50, 100} {
				if err := send(progress{pct}); err != nil {
					return err
				}
			}
			return nil
		}))
	require.NoError(t, err)
}

// TestDocs writes the AsyncAPI documents of a fleet found through
// discovery, one per service, as YAML and as JSON, and has the official
// AsyncAPI parser validate them all.
func TestDocs(t *testing.T) {
	for name, url := range brokers(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := startFleet(t, url)
			startThermo(t, url, f)
			run := func(args ...string) result {
				t.Helper()
				return cli(t, "", append(append([]string{"docs"}, args...), "-s", url, "--prefix", f.prefix)...)
			}
			docs := func(args ...string) []byte {
				t.Helper()
				r := run(args...)
				require.Equal(t, exitOK, r.code, "%q: %s", args, r.stderr)
				assert.Empty(t, r.stderr, "%q", args)
				return []byte(r.stdout)
			}

			// Several services: one document each, never one titled with all names.
			r := run()
			assert.Equal(t, exitUsage, r.code, r.stderr)
			assert.Contains(t, r.stderr, "3 services answered (billing, orders, thermo)")
			assert.Contains(t, r.stderr, "--out DIR")
			assert.Empty(t, r.stdout)

			dir := t.TempDir()
			out := docs("--out", dir)
			assert.Equal(t, []string{filepath.Join(dir, "billing.yaml"), filepath.Join(dir, "orders.yaml"), filepath.Join(dir, "thermo.yaml")}, lines(string(out)))
			files := map[string][]byte{}
			for _, n := range []string{"billing", "orders", "thermo"} {
				y, err := os.ReadFile(filepath.Join(dir, n+".yaml"))
				require.NoError(t, err)
				files[n+".yaml"] = y
			}

			y, j := docs("orders"), docs("orders", "--json")
			assert.Equal(t, string(files["orders.yaml"]), string(y), "--out writes what NAME prints")
			// The same document: the YAML, read and written as JSON, is the JSON.
			var fromYAML any
			require.NoError(t, yaml.Unmarshal(y, &fromYAML))
			asJSON, err := json.Marshal(fromYAML)
			require.NoError(t, err)
			assert.JSONEq(t, string(j), string(asJSON))
			var orders asyncDoc
			require.NoError(t, json.Unmarshal(j, &orders))
			assert.Equal(t, "orders", orders.Info["title"])
			assert.Equal(t, "1.2.0", orders.Info["version"])
			assert.Equal(t, map[string]any{"region": "eu"}, orders.Info["x-mqttrpc-metadata"], "service metadata")
			assert.Equal(t, map[string]any{"host": hostOf(t, url), "protocol": "mqtt", "protocolVersion": "5"}, orders.Servers["broker"])
			// The two instances of orders serve create on patterns of their own.
			assert.ElementsMatch(t, []string{"orders.cancel", "orders.cancel.2", "orders.create", "orders.create.2",
				"mqttrpc.discovery.PING", "mqttrpc.discovery.INFO", "mqttrpc.discovery.STATS"}, keys(orders.Operations))
			assert.Equal(t, f.prefix+"/INFO", orders.Channels["mqttrpc.discovery.INFO"]["address"])
			assert.Equal(t, f.base+"/orders/0/{item}", orders.Channels["orders.create"]["address"])
			assert.Equal(t, f.base+"/orders/1/{item}", orders.Channels["orders.create.2"]["address"])
			assert.Contains(t, orders.Channels, "orders.create.reply")

			var only asyncDoc
			require.NoError(t, json.Unmarshal(docs("billing", f.billing, "--json"), &only))
			assert.Contains(t, only.Operations, "billing.charge")
			assert.NotContains(t, only.Operations, "orders.create")

			// Schemas, metadata and streaming come through discovery.
			var thermo struct {
				asyncDoc
				Components struct {
					Schemas map[string]map[string]any `json:"schemas"`
				} `json:"components"`
			}
			require.NoError(t, json.Unmarshal(docs("thermo", "--json"), &thermo))
			read := thermo.Operations["thermo.read"].(map[string]any)
			assert.Equal(t, map[string]any{"unit": "celsius"}, read["x-mqttrpc-metadata"])
			assert.Nil(t, read["x-mqttrpc-streaming"])
			assert.Equal(t, true, thermo.Operations["thermo.calibrate"].(map[string]any)["x-mqttrpc-streaming"])
			reply := thermo.Channels["thermo.read.reply"]["messages"].(map[string]any)["reply"].(map[string]any)
			assert.Equal(t, map[string]any{"$ref": "#/components/schemas/main.thermoReading"}, reply["payload"], "the schema, not only its name")
			assert.Equal(t, map[string]any{"sensor": map[string]any{"type": "string"}, "celsius": map[string]any{"type": "number"}},
				thermo.Components.Schemas["main.thermoReading"]["properties"])
			assert.Contains(t, thermo.Components.Schemas, "main.progress")

			files["orders.json"] = j
			requireValidAsyncAPI(t, files)
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
