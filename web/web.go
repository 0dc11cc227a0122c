// Package web serves mqttrpc's browser side from the binary: the ES module
// client (client/mqttrpc.js) with the MQTT.js browser build it imports, and
// the explorer page that "mqttrpc ui" serves. Nothing is fetched from the
// internet, so the pages work on a plant network with no way out.
//
// A dashboard served by a Go program can take the client from it:
//
//	mux.Handle("/lib/", http.StripPrefix("/lib", web.Client()))
//
// and map 'mqtt' to lib/mqtt.esm.js in the page's import map (see the
// README, "Browser and explorer").
package web

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
)

//go:embed client/mqttrpc.js vendor/mqtt/mqtt.esm.js vendor/mqtt/LICENSE.md explorer
var files embed.FS

// clientFiles are what Client serves, by the name it serves them under.
var clientFiles = map[string]string{
	"/mqttrpc.js":      "client/mqttrpc.js",
	"/mqtt.esm.js":     "vendor/mqtt/mqtt.esm.js",
	"/mqtt.LICENSE.md": "vendor/mqtt/LICENSE.md",
}

// Client serves the browser client: /mqttrpc.js, and /mqtt.esm.js (MQTT.js,
// which mqttrpc.js imports as 'mqtt') with its license at /mqtt.LICENSE.md.
// Any other path is a 404.
func Client() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := clientFiles[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		serveFile(w, r, name)
	})
}

// Explorer serves the explorer page at / and its scripts, with the client
// under /lib/ (as Client serves it). The page reads its settings from
// ./config.json, which the caller serves (mqttrpc ui does).
func Explorer() http.Handler {
	page, err := fs.Sub(files, "explorer")
	if err != nil {
		panic(err) // the directory is embedded above: it is there
	}
	mux := http.NewServeMux()
	mux.Handle("/lib/", http.StripPrefix("/lib", Client()))
	pageFiles := http.FileServerFS(page)
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The page changes with the binary: never let a browser keep an old
		// script beside a new one.
		w.Header().Set("Cache-Control", "no-cache")
		pageFiles.ServeHTTP(w, r)
	}))
	return mux
}

func serveFile(w http.ResponseWriter, r *http.Request, name string) {
	w.Header().Set("Cache-Control", "no-cache")
	if path.Ext(name) == ".js" {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	}
	http.ServeFileFS(w, r, files, name)
}
