package asyncapi_test

import (
	"encoding/json"
	"os"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/asyncapi"
)

// TestDiscoveryChannels checks the channels of discovery's requests, and
// that the schemas of their replies, made from the Go types, have the
// properties of the repository's schema files.
func TestDiscoveryChannels(t *testing.T) {
	t.Parallel()
	b := connect(t, mqttrpc.V5)
	require.NoError(t, fixtures[0].serve(ctxTimeout(t), b))
	d, err := asyncapi.Generate(b, asyncapi.Info{Discovery: "fleet/srv"})
	require.NoError(t, err)
	for _, tt := range []struct{ verb, schema, file string }{
		{"PING", "mqttrpc.ServicePing", "ping_response.json"},
		{"INFO", "mqttrpc.ServiceInfo", "info_response.json"},
		{"STATS", "mqttrpc.ServiceStats", "stats_response.json"},
	} {
		key := "mqttrpc.discovery." + tt.verb
		require.Contains(t, d.Channels, key)
		assert.Equal(t, "fleet/srv/"+tt.verb, *d.Channels[key].Address)
		assert.Equal(t, byte(1), d.Operations[key].Bindings.MQTT.QoS)
		reply := d.Channels[key+".reply"].Messages["reply"]
		assert.JSONEq(t, `{"$ref":"#/components/schemas/`+tt.schema+`"}`, string(reply.Payload))

		raw, err := os.ReadFile("../schemas/" + tt.file)
		require.NoError(t, err)
		var file struct {
			Properties map[string]struct {
				Items struct {
					Properties map[string]any `json:"properties"`
				} `json:"items"`
			} `json:"properties"`
		}
		require.NoError(t, json.Unmarshal(raw, &file))
		var reflected struct {
			Properties map[string]any `json:"properties"`
		}
		require.NoError(t, json.Unmarshal(d.Components.Schemas[tt.schema], &reflected))
		assert.Equal(t, keys(file.Properties), keys(reflected.Properties), tt.file)
		if items := file.Properties["endpoints"].Items.Properties; items != nil {
			endpoint := map[string]string{"INFO": "mqttrpc.EndpointInfo", "STATS": "mqttrpc.EndpointStats"}[tt.verb]
			var reflectedItems struct {
				Properties map[string]any `json:"properties"`
			}
			require.NoError(t, json.Unmarshal(d.Components.Schemas[endpoint], &reflectedItems))
			want := keys(items)
			if tt.verb == "INFO" { // EndpointInfo is SCHEMA's too, which adds these; INFO leaves them out
				want = append(want, "request_schema_json", "response_schema_json")
				slices.Sort(want)
			}
			assert.Equal(t, want, keys(reflectedItems.Properties), tt.file+" endpoints")
		}
	}
	j, err := d.JSON()
	require.NoError(t, err)
	requireValid(t, map[string][]byte{"discovery.json": j})

	// MQTT 3.1.1 services answer no discovery.
	d, err = asyncapi.FromServices(nil, asyncapi.Info{Protocol: mqttrpc.V311, Discovery: mqttrpc.DefaultDiscoveryPrefix})
	require.NoError(t, err)
	assert.Empty(t, d.Channels)
}
