package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// clientMain is a client of the thermo service written against the Go
// types Modelina generated from its AsyncAPI document: it reads a sensor,
// and streams a calibration's progress.
const clientMain = `package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/mqttrpc/mqttrpc"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := mqttrpc.Connect(ctx, os.Args[1])
	if err != nil {
		panic(err)
	}
	defer b.Close(context.Background())
	r, err := mqttrpc.Call[MainDotThermoReading](ctx, b, os.Args[2], MainDotQuery{Sensor: "s1"})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s %v\n", r.Sensor, r.Celsius)
	for p, err := range mqttrpc.CallStream[MainDotProgress](ctx, b, os.Args[3], MainDotThermoReading{Sensor: "s1"}) {
		if err != nil {
			panic(err)
		}
		fmt.Printf("%d%%\n", p.Percent)
	}
}
`

// TestDocsClient goes from a running service to a typed client of it: the
// document mqttrpc docs writes from discovery, Go types generated from it
// by AsyncAPI Modelina (interop/js/asyncapi-models.mjs), and a program using
// them that calls the service, compiled and run.
func TestDocsClient(t *testing.T) {
	url := mochi(t)
	f := fleet{prefix: topic("srv"), base: topic("svc")}
	startThermo(t, url, f)
	r := cli(t, "", "docs", "thermo", "-s", url, "--prefix", f.prefix)
	require.Equal(t, exitOK, r.code, r.stderr)
	doc := writeFile(t, "thermo.yaml", r.stdout)

	const js = "../../interop/js"
	node, err := exec.LookPath("node")
	if err != nil {
		skipOrFail(t, "node not installed")
	}
	if _, err := os.Stat(filepath.Join(js, "node_modules", "@asyncapi", "modelina", "package.json")); err != nil {
		skipOrFail(t, "@asyncapi/modelina not installed in "+js)
	}
	// In the module, so that the client builds against this mqttrpc; under
	// testdata, so that ./... leaves it alone.
	require.NoError(t, os.MkdirAll("testdata", 0o755))
	dir, err := os.MkdirTemp("testdata", "client-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	out, err := exec.Command(node, filepath.Join(js, "asyncapi-models.mjs"), doc, dir, "main").CombinedOutput()
	require.NoError(t, err, "%s", out)
	models := strings.Fields(string(out))
	assert.Subset(t, models, []string{"MainDotQuery", "MainDotThermoReading", "MainDotProgress"})

	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(clientMain), 0o644))
	run := exec.Command("go", "run", "./"+filepath.ToSlash(dir), url, f.base+"/thermo/s1", f.base+"/thermo/s1/calibrate")
	out, err = run.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Equal(t, "s1 21.5\n0%\n50%\n100%\n", string(out))
}

// skipOrFail skips the test, or fails it in CI, where the tools must be there.
func skipOrFail(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (required in CI: npm ci in interop/js)", msg)
	}
	t.Skip(msg)
}
