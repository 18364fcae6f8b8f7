package service

import (
	"context"
	"errors"

	"github.com/aws/aws-lambda-go/lambda/messages"
)

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
