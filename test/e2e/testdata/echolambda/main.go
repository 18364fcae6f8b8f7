// Command echolambda is a tiny Lambda for the Runtime API bridge's tests:
// what it does depends on the event's "do" field.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type event struct {
	Do    string `json:"do"`
	Value string `json:"value"`
	Size  int    `json:"size"`
}

type response struct {
	Value       string `json:"value"`
	Function    string `json:"function"`
	FunctionARN string `json:"functionArn"`
	RequestID   string `json:"requestId"`
	DeadlineIn  int64  `json:"deadlineInMs"`
	PID         int    `json:"pid"`
	Env         string `json:"env,omitempty"`
	Blob        string `json:"blob,omitempty"`
}

func handle(ctx context.Context, e event) (response, error) {
	lc, _ := lambdacontext.FromContext(ctx)
	dl, _ := ctx.Deadline()
	r := response{Value: e.Value, Function: lambdacontext.FunctionName, PID: os.Getpid(), DeadlineIn: time.Until(dl).Milliseconds()}
	if lc != nil {
		r.RequestID = lc.AwsRequestID
		r.FunctionARN = lc.InvokedFunctionArn
	}
	switch e.Do {
	case "echo":
		return r, nil
	case "env":
		r.Env = os.Getenv(e.Value)
		return r, nil
	case "fail":
		return r, messages.InvokeResponse_Error{Type: "fleetdoctor.InvalidInput", Message: "mode: must be one of audit, diagnose, remediate (got " + e.Value + ")"}
	case "plain":
		return r, errors.New("plain failure")
	case "panic":
		panic("boom: " + e.Value)
	case "exit":
		os.Exit(3)
	case "sleep":
		d, _ := time.ParseDuration(e.Value)
		time.Sleep(d)
		return r, nil
	case "big":
		r.Blob = strings.Repeat("x", e.Size)
		return r, nil
	}
	return r, fmt.Errorf("unknown do %q", e.Do)
}

func main() {
	if os.Getenv("ECHO_INIT_FAIL") != "" {
		// What a runtime does when its initialisation fails.
		url := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime/init/error"
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"errorMessage":"missing FLEETDOCTOR_BUCKET","errorType":"Runtime.ConfigError"}`))
		req.Header.Set("Lambda-Runtime-Function-Error-Type", "Runtime.ConfigError")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
		os.Exit(1)
	}
	lambda.Start(handle)
}
