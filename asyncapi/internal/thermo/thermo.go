// Package thermo is the service whose AsyncAPI document the repository's
// README shows: a package of its own, so that its schemas are named
// thermo.Reading and thermo.Calibration, as a user's would be.
package thermo

import (
	"context"

	"github.com/mqttrpc/mqttrpc"
)

// Reading is the reply of the read endpoint.
type Reading struct {
	Sensor  string  `json:"sensor"`
	Celsius float64 `json:"celsius"`
}

// Calibration is the request of the calibrate endpoint.
type Calibration struct {
	OffsetCelsius float64 `json:"offset_celsius"`
}

// Serve starts the service on b, as the README shows it.
func Serve(ctx context.Context, b *mqttrpc.Broker) error {
	svc, err := b.Service(ctx, mqttrpc.ServiceConfig{Name: "thermo", Version: "1.2.0", Description: "Reads and calibrates thermometers."})
	if err != nil {
		return err
	}
	_, err = svc.Endpoint(ctx, "read", "site/{site}/thermo/{sensor}",
		mqttrpc.Typed(func(ctx context.Context, _ []byte) (Reading, error) {
			return Reading{Sensor: mqttrpc.MessageFromContext(ctx).Param("sensor"), Celsius: 21.5}, nil
		}), mqttrpc.QoS(1))
	if err != nil {
		return err
	}
	_, err = svc.Endpoint(ctx, "calibrate", "site/{site}/thermo/{sensor}/calibrate",
		mqttrpc.Typed(func(ctx context.Context, c Calibration) (string, error) {
			return "ok", nil
		}), mqttrpc.NoReply())
	return err
}
