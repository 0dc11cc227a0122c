package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/asyncapi"
)

// maxAsyncAPIBody bounds the SCHEMA replies the page may send: far more
// than any set of services answers, and little enough to hold in memory.
const maxAsyncAPIBody = 8 << 20

// serveAsyncAPI answers POST /api/asyncapi?format=yaml|json: the AsyncAPI
// document of the services whose SCHEMA replies, a JSON array as
// discovery answered them, are the body. The page gathers the replies
// itself, over its own connection; this only turns them into a document,
// which takes the Go generator.
func (h *uiHandler) serveAsyncAPI(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST the SCHEMA replies", http.StatusMethodNotAllowed)
		return
	}
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "yaml"
	}
	if format != "yaml" && format != "json" {
		http.Error(w, fmt.Sprintf("format %q: want yaml or json", format), http.StatusBadRequest)
		return
	}
	var replies []mqttrpc.ServiceSchemas
	body := http.MaxBytesReader(w, r.Body, maxAsyncAPIBody)
	if err := json.NewDecoder(body).Decode(&replies); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			http.Error(w, fmt.Sprintf("more than %d bytes of SCHEMA replies", maxAsyncAPIBody), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "want a JSON array of SCHEMA replies: "+err.Error(), http.StatusBadRequest)
		return
	}
	text, err := h.document(replies, format)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/"+format)
	w.Write(text)
}

// document returns the AsyncAPI document of the services in replies, with
// the brokers of -s as its servers, as docs writes it.
func (h *uiHandler) document(replies []mqttrpc.ServiceSchemas, format string) ([]byte, error) {
	if len(replies) == 0 {
		return nil, errors.New("no SCHEMA replies: a document needs a service")
	}
	infos := make([]mqttrpc.ServiceInfo, len(replies))
	for i, r := range replies {
		infos[i] = r.ServiceInfo
	}
	d, err := asyncapi.FromServices(infos, asyncapi.Info{Servers: h.servers, Discovery: h.prefix})
	if err != nil {
		return nil, err
	}
	if format == "json" {
		return d.JSON()
	}
	return d.YAML()
}
