package secret

import (
	"strings"
	"testing"
)

func TestCheckParameterName(t *testing.T) {
	for _, ok := range []string{"galxe-token", "/galxe-lambda/access-token", "/a", "A_b.c-d", "/" + strings.Repeat("a/", 14) + "a"} {
		if err := CheckParameterName(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for name, says := range map[string]string{
		"galxe-lambda/access-token":             `use "/galxe-lambda/access-token"`,
		"":                                      "empty",
		"/galxe lambda/token":                   "only letters",
		"/galxe-lambda//token":                  "empty level",
		"/galxe-lambda/":                        "empty level",
		"/" + strings.Repeat("a/", 15) + "a":    "16 levels",
		"/" + strings.Repeat("a", 1011):         "1012 characters",
		"arn:aws:ssm:us-east-1:1:parameter/x/y": "only letters",
	} {
		err := CheckParameterName(name)
		if err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("%q: got %v, want an error saying %q", name, err, says)
		}
	}
}
