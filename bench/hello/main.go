// Command hello is the floor of the benchmarks: the smallest aws-lambda-go
// function, built and started the same way as the project's.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(context.Context, map[string]any) (string, error) { return "hello", nil })
}
