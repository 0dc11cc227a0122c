package web_test

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttrpc/mqttrpc/web"
)

func get(t *testing.T, h http.Handler, path string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	res := rec.Result()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res, string(body)
}

func TestClientServesTheModuleAndMQTTJS(t *testing.T) {
	t.Parallel()
	res, body := get(t, web.Client(), "/mqttrpc.js")
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, "text/javascript; charset=utf-8", res.Header.Get("Content-Type"))
	assert.Contains(t, body, "export async function connect")

	res, body = get(t, web.Client(), "/mqtt.esm.js")
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Greater(t, len(body), 100_000, "the whole MQTT.js build")

	res, _ = get(t, web.Client(), "/package.json")
	assert.Equal(t, http.StatusNotFound, res.StatusCode)
}

func TestExplorerServesThePageAndItsLibraries(t *testing.T) {
	t.Parallel()
	res, body := get(t, web.Explorer(), "/")
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.True(t, strings.HasPrefix(res.Header.Get("Content-Type"), "text/html"))
	assert.Contains(t, body, "mqttrpc explorer")

	res, _ = get(t, web.Explorer(), "/lib/mqttrpc.js")
	assert.Equal(t, http.StatusOK, res.StatusCode)
	res, _ = get(t, web.Explorer(), "/lib/client/mqttrpc.js")
	assert.Equal(t, http.StatusNotFound, res.StatusCode)
}

// TestExplorerPreloadsEveryModule: the page names each of its modules in a
// modulepreload link, so that the browser fetches them all at once instead
// of one import level after another.
func TestExplorerPreloadsEveryModule(t *testing.T) {
	t.Parallel()
	_, page := get(t, web.Explorer(), "/")
	modules, err := fs.Glob(os.DirFS("explorer"), "*.js")
	require.NoError(t, err)
	for _, m := range append(modules, "lib/mqtt.esm.js", "lib/mqttrpc.js") {
		if m == "app.js" {
			continue // the entry point: its script tag fetches it
		}
		assert.Contains(t, page, `<link rel="modulepreload" href="`+m+`">`)
	}
}
