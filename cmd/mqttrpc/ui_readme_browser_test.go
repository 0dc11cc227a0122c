package main

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// TestBrowserExplorerReadmeScreenshot makes the README's picture of the
// explorer: the firmware update of the plant, streaming its progress.
// Run it with MQTTRPC_SCREENSHOTS set to keep the picture:
//
//	MQTTRPC_SCREENSHOTS=$PWD/../../docs go test -run TestBrowserExplorerReadmeScreenshot .
//
// which writes docs/explorer.png. Without it, the picture goes to the
// test's temporary directory, and the test checks what it shows.
func TestBrowserExplorerReadmeScreenshot(t *testing.T) {
	t.Parallel()
	tab, _ := callView(t, "firmware/update", 400*time.Millisecond)
	waitUntil(t, tab, `document.querySelector('[data-field="version"]')`, "the form from the schema")
	typeInto(t, tab, `input[data-param="id"]`, "42")
	typeInto(t, tab, `[data-field="version"]`, "2.1.0")
	click(t, tab, "#call-send")
	waitUntil(t, tab, `document.querySelectorAll('#stream-responses li').length >= 5`, "five responses")
	waitUntil(t, tab, `document.querySelectorAll('section.service').length === 3`, "the plant listed")

	full, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	img, err := png.Decode(bytes.NewReader(full))
	require.NoError(t, err)
	// The top of the page, down to the stream: the plots below it are
	// the load test's to show.
	bottom := evaluate[float64](t, tab, `return document.querySelector('#call-result').getBoundingClientRect().bottom + scrollY + 16`)
	height := min(img.Bounds().Dy(), int(bottom))
	top := img.(interface {
		SubImage(image.Rectangle) image.Image
	}).SubImage(image.Rect(0, 0, img.Bounds().Dx(), height))
	var out bytes.Buffer
	require.NoError(t, png.Encode(&out, top))

	dir := os.Getenv("MQTTRPC_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	p := filepath.Join(dir, "explorer.png")
	require.NoError(t, os.WriteFile(p, out.Bytes(), 0o644))
	t.Logf("screenshot %s", p)
}
