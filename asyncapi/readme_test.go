package asyncapi_test

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/asyncapi"
	"github.com/mqttrpc/mqttrpc/asyncapi/internal/thermo"
)

var update = flag.Bool("update", false, "rewrite testdata/thermo.yaml from the generator")

// TestREADME checks that the document the README shows is the one the
// generator writes, and valid.
func TestREADME(t *testing.T) {
	t.Parallel()
	b := connect(t, mqttrpc.V5)
	require.NoError(t, thermo.Serve(ctxTimeout(t), b))
	d, err := asyncapi.Generate(b, asyncapi.Info{Servers: []string{"mqtt://broker.example.com:1883"}})
	require.NoError(t, err)
	y, err := d.YAML()
	require.NoError(t, err)
	const golden = "testdata/thermo.yaml"
	if *update {
		require.NoError(t, os.WriteFile(golden, y, 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(y), "go test -update rewrites %s", golden)

	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	assert.True(t, strings.Contains(string(readme), "```yaml\n"+string(want)+"```\n"), "README.md shows %s", golden)

	requireValid(t, map[string][]byte{"thermo.yaml": y})
}
