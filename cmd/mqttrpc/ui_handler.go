package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"runtime/debug"

	"github.com/mqttrpc/mqttrpc/web"
)

// uiHandler serves the explorer: the page, its settings, the relay and
// the AsyncAPI documents, each behind the page's password if it has one.
type uiHandler struct {
	http.Handler
	target  *url.URL // the broker of the first -s
	relay   *relay
	config  uiConfig
	servers []string // every -s, for the AsyncAPI documents
	prefix  string
}

// uiConfig is what the page reads from /config.json.
type uiConfig struct {
	// Broker is "mqtt", which the page resolves against its own URL to
	// reach the relay, or the ws:// or wss:// URL of a broker the page
	// connects to itself.
	Broker          string `json:"broker"`
	Username        string `json:"username,omitempty"`
	Password        string `json:"password,omitempty"`
	DiscoveryPrefix string `json:"discoveryPrefix"`
	Version         string `json:"version"`
}

// newUIHandler returns the handler for the checked flags f and the page's
// password ("" for none).
func newUIHandler(f *uiFlags, password string) (*uiHandler, error) {
	urls, err := f.conn.urls()
	if err != nil {
		return nil, err
	}
	target, err := url.Parse(urls[0])
	if err != nil {
		return nil, err
	}
	user, brokerPassword, err := f.conn.credentials()
	if err != nil {
		return nil, err
	}
	cfg, err := f.conn.tlsConfig(urls)
	if err != nil {
		return nil, err
	}
	h := &uiHandler{
		target:  target,
		config:  uiConfig{Broker: "mqtt", Username: user, Password: brokerPassword, DiscoveryPrefix: f.prefix, Version: moduleVersion()},
		servers: urls,
		prefix:  f.prefix,
	}
	if s := target.Scheme; s == "ws" || s == "wss" {
		h.config.Broker = target.String()
		h.relay = newRelay(nil, nil, 0)
	} else {
		h.relay = newRelay(target, cfg, f.conn.connectTimeout)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /config.json", h.serveConfig)
	mux.Handle("/mqtt", h.relay)
	mux.HandleFunc("/api/asyncapi", h.serveAsyncAPI)
	mux.Handle("/", web.Explorer())
	h.Handler = guard(password, mux)
	return h, nil
}

// serveConfig answers /config.json.
func (h *uiHandler) serveConfig(w http.ResponseWriter, _ *http.Request) {
	// It may hold the broker's password: no cache is to keep it.
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(h.config)
}

// moduleVersion returns the version of the command's module, as
// "mqttrpc version" prints it.
func moduleVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	return info.Main.Version
}
