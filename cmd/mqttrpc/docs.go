package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/asyncapi"
)

const docsHelp = `Usage: mqttrpc docs [NAME [ID]] [FLAGS]

Prints the AsyncAPI 3.0 document of the service that answers discovery, of
service NAME, or of its one instance ID, as YAML (--json: as JSON): a channel
and an operation per endpoint, its reply, content types, payload schemas,
metadata (x-mqttrpc-metadata) and streaming (x-mqttrpc-streaming); and
discovery's PING, INFO and STATS under --prefix. Its server is the broker of
-s. One document describes one service, as AsyncAPI tools expect: when
several answer, name one, or write one file each with --out DIR.

The payload schemas come from discovery's SCHEMA, asked of one instance per
service and version; services whose Broker has no schema generator
(mqttrpc.WithSchemaGenerator(asyncapi.JSONSchema)) only name their types.
` + discoverFlagsHelp + `      --json                write the documents as JSON instead of YAML
      --out DIR             write one document per service to DIR/<name>.yaml
                            (.json with --json) and print their paths
` + discoverTail

// docsCommand is mqttrpc docs.
var docsCommand = struct {
	run func(ctx context.Context, args []string, s streams) error
}{runDocs}

// runDocs asks the services for INFO, and for SCHEMA of one instance of
// each service and version, and writes one document per service.
func runDocs(ctx context.Context, args []string, s streams) error {
	var f discoverFlags
	name, id, err := f.parse("docs", docsHelp, 0, 2, "at most a service NAME and an instance ID", args, s)
	if err != nil {
		return err
	}
	b, err := f.connect(ctx, s)
	if err != nil {
		return err
	}
	defer closeBroker(b)
	// Documents made from an incomplete discovery may lack a version's
	// endpoints: no document beats a wrong one.
	rs, err := discoverOn[mqttrpc.ServiceInfo](ctx, b, "docs", &f, name, id, s)
	if err != nil {
		return err
	}
	sortReplies(rs)
	infos := make([]mqttrpc.ServiceInfo, len(rs))
	for i, r := range rs {
		infos[i] = *r.v
	}
	addSchemas(ctx, b, &f, infos, s)
	byName := map[string][]mqttrpc.ServiceInfo{}
	var names []string
	for _, in := range infos {
		if _, ok := byName[in.Name]; !ok {
			names = append(names, in.Name)
		}
		byName[in.Name] = append(byName[in.Name], in)
	}
	if len(names) > 1 && f.out == "" {
		return usagef("%d services answered (%s), and a document describes one: name one (mqttrpc docs NAME), "+
			"or write one file each with --out DIR", len(names), strings.Join(names, ", "))
	}
	urls, err := f.conn.urls()
	if err != nil {
		return err
	}
	if f.out != "" {
		if err := os.MkdirAll(f.out, 0o755); err != nil {
			return err
		}
	}
	for _, n := range names {
		d, err := asyncapi.FromServices(byName[n], asyncapi.Info{Servers: urls, Discovery: f.prefix})
		if err != nil {
			return err
		}
		out, ext := d.YAML, ".yaml"
		if f.json {
			out, ext = d.JSON, ".json"
		}
		text, err := out()
		if err != nil {
			return err
		}
		if f.out == "" {
			_, err = s.stdout.Write(text)
			return err
		}
		file := filepath.Join(f.out, n+ext)
		if err := os.WriteFile(file, text, 0o644); err != nil {
			return err
		}
		fmt.Fprintln(s.stdout, file)
	}
	return nil
}

// addSchemas asks discovery's SCHEMA of one instance of each service and
// version in infos, and adds the JSON Schemas it answers to the endpoints
// of every instance of that service and version that name the same types.
// An instance that does not know SCHEMA (an older one: 404, or no answer on
// MQTT 3.1.1) leaves the endpoints with their schema names alone.
func addSchemas(ctx context.Context, b *mqttrpc.Broker, f *discoverFlags, infos []mqttrpc.ServiceInfo, s streams) {
	type key struct{ name, version string }
	asked := map[key]map[string]mqttrpc.EndpointInfo{}
	for i := range infos {
		in := &infos[i]
		k := key{in.Name, in.Version}
		eps, ok := asked[k]
		if !ok {
			eps = map[string]mqttrpc.EndpointInfo{}
			for v, err := range mqttrpc.Discover[mqttrpc.ServiceSchemas](ctx, b, in.Name, in.ID, mqttrpc.Timeout(f.timeout)) {
				var re *mqttrpc.RemoteError
				switch {
				case errors.As(err, &re) && re.Code == mqttrpc.StatusNotFound:
				case err != nil:
					writeError(s.stderr, "docs", fmt.Errorf("SCHEMA of %s %s: %w", in.Name, in.ID, err))
				default:
					for _, e := range v.Endpoints {
						eps[e.Name] = e
					}
				}
			}
			asked[k] = eps
		}
		for j, e := range in.Endpoints {
			se, ok := eps[e.Name]
			if ok && slices.Equal([]string{se.RequestSchema, se.ResponseSchema}, []string{e.RequestSchema, e.ResponseSchema}) {
				in.Endpoints[j].RequestSchemaJSON, in.Endpoints[j].ResponseSchemaJSON = se.RequestSchemaJSON, se.ResponseSchemaJSON
			}
		}
	}
}
