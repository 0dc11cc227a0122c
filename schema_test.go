package mqttrpc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mqttrpc/mqttrpc"
)

// TestDiscoverySchemas checks the discovery replies on the wire against the
// JSON Schema files in schemas/, with a validator for the keywords they use.
func TestDiscoverySchemas(t *testing.T) {
	forEachV5(t, func(t *testing.T, tg target) {
		t.Parallel()
		f := newFleet(t, tg)
		_, err := mqttrpc.Call[temperature](ctxTimeout(t, 10*time.Second), f.cli, f.failTopic, nil)
		require.Error(t, err) // so that last_error is set
		for verb, file := range map[string]string{
			mqttrpc.VerbPing: "ping_response.json", mqttrpc.VerbInfo: "info_response.json", mqttrpc.VerbStats: "stats_response.json",
			mqttrpc.VerbSchema: "schema_response.json",
		} {
			raw, err := os.ReadFile("schemas/" + file)
			require.NoError(t, err)
			var schema map[string]any
			require.NoError(t, json.Unmarshal(raw, &schema))
			require.Error(t, validate(schema, map[string]any{}, "$"), "the validator can fail")
			n := 0
			for m, err := range f.cli.Gather(ctxTimeout(t, 10*time.Second), f.prefix+"/"+verb, nil, mqttrpc.MaxReplies(3)) {
				require.NoError(t, err)
				require.Equal(t, "application/json", m.ContentType)
				var v any
				require.NoError(t, json.Unmarshal(m.Body, &v))
				require.NoError(t, validate(schema, v, "$"), "%s: %s", file, m.Body)
				n++
			}
			require.Equal(t, 3, n)
		}
	})
}

// validate checks v against the subset of JSON Schema that schemas/ uses.
func validate(s map[string]any, v any, at string) error {
	if c, ok := s["const"]; ok && c != v {
		return fmt.Errorf("%s: %v is not %v", at, v, c)
	}
	switch s["type"] {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: not an object", at)
		}
		required, _ := s["required"].([]any)
		for _, r := range required {
			if _, ok := obj[r.(string)]; !ok {
				return fmt.Errorf("%s: %q missing", at, r)
			}
		}
		props, _ := s["properties"].(map[string]any)
		for k, val := range obj {
			sub, ok := props[k].(map[string]any)
			if !ok {
				switch extra := s["additionalProperties"].(type) {
				case bool:
					if !extra {
						return fmt.Errorf("%s: %q is not in the schema", at, k)
					}
					continue
				case map[string]any:
					sub = extra
				default:
					continue
				}
			}
			if err := validate(sub, val, at+"."+k); err != nil {
				return err
			}
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: not an array", at)
		}
		for i, item := range arr {
			if err := validate(s["items"].(map[string]any), item, fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s: not a string", at)
		}
		if p, ok := s["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(str) {
			return fmt.Errorf("%s: %q does not match %s", at, str, p)
		}
		if s["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
				return fmt.Errorf("%s: %w", at, err)
			}
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: %v is not a boolean", at, v)
		}
	case "integer":
		n, ok := v.(float64)
		if !ok || n != float64(int64(n)) {
			return fmt.Errorf("%s: %v is not an integer", at, v)
		}
		if m, ok := s["minimum"].(float64); ok && n < m {
			return fmt.Errorf("%s: %v < %v", at, n, m)
		}
		if m, ok := s["maximum"].(float64); ok && n > m {
			return fmt.Errorf("%s: %v > %v", at, n, m)
		}
	}
	if !slices.Contains([]any{"object", "array", "string", "integer", "boolean", nil}, s["type"]) {
		return fmt.Errorf("%s: the validator does not know type %v", at, s["type"])
	}
	return nil
}

// TestDiscoveryRequestSchema checks the body of the discovery requests that
// Discover sends on MQTT 3.1.1 against schemas/discovery_request.json.
func TestDiscoveryRequestSchema(t *testing.T) {
	forEachV311(t, func(t *testing.T, tg target) {
		t.Parallel()
		raw, err := os.ReadFile("schemas/discovery_request.json")
		require.NoError(t, err)
		var schema map[string]any
		require.NoError(t, json.Unmarshal(raw, &schema))
		require.Error(t, validate(schema, map[string]any{"reply_to": 1}, "$"), "the validator can fail")

		prefix := uniqueTopic(t, "srv")
		sniffer, cli := connect(t, tg), connect(t, tg, mqttrpc.WithDiscoveryPrefix(prefix))
		requests := make(chan *mqttrpc.Message, 1)
		subscribe(t, sniffer, prefix+"/PING", mqttrpc.HandlerFunc(func(_ context.Context, m *mqttrpc.Message) (*mqttrpc.Response, error) {
			requests <- m
			return nil, nil
		}), mqttrpc.NoReply())
		for range mqttrpc.Discover[mqttrpc.ServicePing](ctxTimeout(t, 10*time.Second), cli, "", "", mqttrpc.Timeout(100*time.Millisecond)) {
			t.Fatal("no service runs")
		}
		m := receive(t, requests)
		var v any
		require.NoError(t, json.Unmarshal(m.Body, &v), "%s", m.Body)
		require.NoError(t, validate(schema, v, "$"), "%s", m.Body)
	})
}
