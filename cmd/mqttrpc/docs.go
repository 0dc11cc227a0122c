package main

import (
	"encoding/json"
	"io"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/asyncapi"
)

const docsHelp = `Usage: mqttrpc docs [NAME [ID]] [FLAGS]

Prints the AsyncAPI 3.0 document of the services that answer discovery, of
service NAME, or of its one instance ID, as YAML (--json: as JSON): a channel
and an operation per endpoint, its reply, content types and the names of the
payload schemas, which discovery carries without the schemas themselves; and
discovery's PING, INFO and STATS under --prefix. Its server is the broker of -s.
` + discoverFlagsHelp + `      --json                print the document as JSON instead of YAML
` + discoverTail

// document returns the AsyncAPI document of the services that answered.
func document(f *discoverFlags, rs []reply[mqttrpc.ServiceInfo]) (*asyncapi.Document, error) {
	infos := make([]mqttrpc.ServiceInfo, len(rs))
	for i, r := range rs {
		infos[i] = *r.v
	}
	urls, err := f.conn.urls()
	if err != nil {
		return nil, err
	}
	d, err := asyncapi.FromServices(infos, asyncapi.Info{Servers: urls, Discovery: f.prefix})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// writeDocs prints the document as YAML.
func writeDocs(w io.Writer, f *discoverFlags, rs []reply[mqttrpc.ServiceInfo]) error {
	d, err := document(f, rs)
	if err != nil {
		return err
	}
	y, err := d.YAML()
	if err != nil {
		return err
	}
	_, err = w.Write(y)
	return err
}

// docsJSON returns the document as JSON, for --json.
func docsJSON(f *discoverFlags, rs []reply[mqttrpc.ServiceInfo]) (any, error) {
	d, err := document(f, rs)
	if err != nil {
		return nil, err
	}
	j, err := d.JSON()
	return json.RawMessage(j), err
}
