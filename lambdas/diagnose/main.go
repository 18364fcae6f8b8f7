// Command diagnose is fleetdoctor's diagnose Lambda: it reads the deployment's
// configuration from the environment, builds the AWS clients and serves
// pkg/service's Diagnose handler (see docs/lambdas.md).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/fleetdoctor/fleetdoctor/pkg/service"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("lambda", service.LambdaDiagnose)
	cfg, err := service.LoadConfig(os.Getenv)
	if err != nil {
		log.Error("bad configuration", "error", err.Error())
		os.Exit(1)
	}
	svc, err := service.New(context.Background(), cfg)
	if err != nil {
		log.Error("building the AWS clients", "error", err.Error())
		os.Exit(1)
	}
	svc.Log = log
	lambda.Start(service.Handler(svc.Diagnose))
}
