package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/asyncapi"
)

// The services the explorer's browser tests look at: a plant with a
// thermostat, a device's firmware update and a service whose texts are
// markup, on one connection that makes the endpoints' JSON Schemas.

// Setpoint asks a thermostat for a temperature.
type Setpoint struct {
	Celsius float64 `json:"celsius" jsonschema:"minimum=5,maximum=30,description=the temperature to hold"`
	Mode    string  `json:"mode" jsonschema:"enum=heat,enum=cool"`
	Eco     bool    `json:"eco,omitempty"`
	// Until is when to go back to the schedule; a zero time holds it for good.
	Until time.Time `json:"until,omitzero" jsonschema:"description=when to go back to the schedule"`
}

// Thermostat is what a thermostat holds.
type Thermostat struct {
	Room    string     `json:"room"`
	Celsius float64    `json:"celsius"`
	Mode    string     `json:"mode"`
	Eco     bool       `json:"eco"`
	Until   *time.Time `json:"until,omitempty"`
}

// FirmwareUpdate asks a device to install a version.
type FirmwareUpdate struct {
	Version string `json:"version" jsonschema:"description=the version to install"`
}

// FirmwareProgress is one response of an update's stream.
type FirmwareProgress struct {
	Percent int    `json:"percent"`
	Version string `json:"version,omitempty"`
}

// markup is what the page must show as text, never run or render.
const markup = `<img src=x onerror="document.title='pwned'"><script>document.title='pwned'</script><b>bold</b>`

// plant is the services of startPlant and what their handlers saw.
type plant struct {
	broker *mqttrpc.Broker
	// ended gets the cause of each firmware update whose context ended
	// before it was done: mqttrpc.ErrCallerCanceled after a Cancel.
	ended chan error
	// updating gets the percent of each progress response sent.
	updating chan int
	// verifying gets a value when a firmware verification starts; it
	// runs until its caller gives up, then sends its cause to ended.
	verifying chan struct{}
}

// startPlant starts the plant's services on the broker at url. A firmware
// update sends a response every step, from 0 to 100 % by tens.
func startPlant(t testing.TB, url string, step time.Duration) *plant {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	b := libBroker(t, url, mqttrpc.WithSchemaGenerator(asyncapi.JSONSchema))
	p := &plant{broker: b, ended: make(chan error, 16), updating: make(chan int, 256), verifying: make(chan struct{}, 16)}

	thermo, err := b.Service(ctx, mqttrpc.ServiceConfig{
		Name: "thermostat", Version: "1.2.0", Description: "Holds the rooms of site 7 at their setpoints.",
		Metadata: map[string]string{"site": "7"},
	})
	require.NoError(t, err)
	_, err = thermo.Endpoint(ctx, "set", "site/7/rooms/{room}/thermostat/set", mqttrpc.Typed(
		func(ctx context.Context, in Setpoint) (Thermostat, error) {
			if in.Celsius < 5 || in.Celsius > 30 {
				return Thermostat{}, mqttrpc.Errorf(422, "%.1f °C is outside 5–30 °C", in.Celsius)
			}
			room := mqttrpc.MessageFromContext(ctx).Param("room")
			out := Thermostat{Room: room, Celsius: in.Celsius, Mode: in.Mode, Eco: in.Eco}
			if !in.Until.IsZero() {
				out.Until = &in.Until
			}
			return out, nil
		}), mqttrpc.EndpointMetadata(map[string]string{"unit": "celsius"}))
	require.NoError(t, err)
	_, err = thermo.Endpoint(ctx, "read", "site/7/rooms/{room}/thermostat", mqttrpc.Typed(
		func(ctx context.Context, _ []byte) (Thermostat, error) {
			room := mqttrpc.MessageFromContext(ctx).Param("room")
			return Thermostat{Room: room, Celsius: 21.5, Mode: "heat"}, nil
		}))
	require.NoError(t, err)
	_, err = thermo.Endpoint(ctx, "calibrate", "site/7/thermostat/calibrate", mqttrpc.Typed(
		func(context.Context, []byte) (Thermostat, error) {
			return Thermostat{}, errors.New("sensor offline")
		}))
	require.NoError(t, err)

	firmware, err := b.Service(ctx, mqttrpc.ServiceConfig{
		Name: "firmware", Version: "2.0.0", Description: "Installs firmware on the devices, reporting progress.",
	})
	require.NoError(t, err)
	_, err = firmware.Endpoint(ctx, "update", "devices/{id}/firmware/update", mqttrpc.TypedStream(
		func(ctx context.Context, in FirmwareUpdate, send func(FirmwareProgress) error) error {
			for percent := 0; percent <= 100; percent += 10 {
				select {
				case <-ctx.Done():
					p.ended <- context.Cause(ctx)
					return context.Cause(ctx)
				case <-time.After(step): // a device's work, not a wait for an event
				}
				progress := FirmwareProgress{Percent: percent}
				if percent == 100 {
					progress.Version = in.Version
				}
				if err := send(progress); err != nil {
					return err
				}
				p.updating <- percent
			}
			return nil
		}))
	require.NoError(t, err)

	_, err = firmware.Endpoint(ctx, "verify", "devices/{id}/firmware/verify", mqttrpc.Typed(
		func(ctx context.Context, _ []byte) (string, error) {
			p.verifying <- struct{}{}
			<-ctx.Done() // a check that takes longer than anyone waits
			p.ended <- context.Cause(ctx)
			return "", context.Cause(ctx)
		}))
	require.NoError(t, err)

	odd, err := b.Service(ctx, mqttrpc.ServiceConfig{
		Name: "odd", Version: "0.0.1", Description: markup,
		Metadata: map[string]string{markup: markup},
	})
	require.NoError(t, err)
	_, err = odd.Endpoint(ctx, "markup", "odd/markup", mqttrpc.HandlerFunc(
		func(context.Context, *mqttrpc.Message) (*mqttrpc.Response, error) {
			return &mqttrpc.Response{Body: markup, ContentType: "text/html"}, nil // a page, were it rendered
		}),
		mqttrpc.EndpointMetadata(map[string]string{"note": markup}))
	require.NoError(t, err)
	_, err = odd.Endpoint(ctx, "huge", "odd/huge", mqttrpc.HandlerFunc(
		func(context.Context, *mqttrpc.Message) (*mqttrpc.Response, error) {
			return &mqttrpc.Response{Body: strings.Repeat("x", 10<<20), ContentType: "text/plain"}, nil
		}))
	require.NoError(t, err)
	return p
}
