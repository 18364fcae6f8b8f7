package service

import (
	"context"
	"errors"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"
)

// Main is a Lambda's whole main: JSON logs to stderr tagged with name, the
// configuration from the environment (LoadConfig), the clients (New), then
// lambda.Start serving handler — a method expression such as
// (*Service).Discover. A bad configuration is logged and exits 1, so the
// function's init fails with the reason in its log.
func Main[E, R any](name string, handler func(*Service, context.Context, E) (R, error)) {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("lambda", name)
	cfg, err := LoadConfig(os.Getenv)
	if err != nil {
		log.Error("bad configuration", "error", err.Error())
		os.Exit(1)
	}
	svc, err := New(context.Background(), cfg)
	if err != nil {
		log.Error("building the AWS clients", "error", err.Error())
		os.Exit(1)
	}
	svc.Log = log
	lambda.Start(Handler(func(ctx context.Context, ev E) (R, error) { return handler(svc, ctx, ev) }))
}

// Handler adapts a handler for lambda.Start: an *Error becomes a
// messages.InvokeResponse_Error value, which aws-lambda-go passes through
// as is, so the state machine's Catch sees Error.Type as the errorType
// (otherwise the runtime names the Go type, "Error"). Other errors keep
// their message under the errorType "fleetdoctor.Error".
func Handler[E, R any](h func(context.Context, E) (R, error)) func(context.Context, E) (R, error) {
	return func(ctx context.Context, ev E) (R, error) {
		out, err := h(ctx, ev)
		return out, LambdaError(err)
	}
}

// ErrorOther is the errorType of errors that are not an *Error.
const ErrorOther = "fleetdoctor.Error"

// LambdaError turns err into the value aws-lambda-go reports verbatim.
func LambdaError(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return messages.InvokeResponse_Error{Type: e.Type, Message: err.Error()}
	}
	return messages.InvokeResponse_Error{Type: ErrorOther, Message: err.Error()}
}
