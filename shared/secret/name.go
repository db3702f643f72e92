package secret

import (
	"fmt"
	"strings"
)

// maxParameterNameLen is the longest name SSM lets a caller create (its
// documented 2048 includes 1037 characters it reserves for itself).
const maxParameterNameLen = 1011

// maxParameterDepth is SSM's limit on a hierarchy's levels.
const maxParameterDepth = 15

// CheckParameterName reports whether SSM accepts name as a parameter's fully
// qualified name: letters, digits and _.- with "/" between the levels of a
// hierarchy, and then a leading "/" (SSM refuses "a/b" in every call, while
// IAM policies built by SAM's SSMParameterReadPolicy want the name without
// it). The error says how to fix the name.
func CheckParameterName(name string) error {
	if name == "" {
		return fmt.Errorf("the parameter name is empty")
	}
	if len(name) > maxParameterNameLen {
		return fmt.Errorf("the parameter name is %d characters; SSM allows %d", len(name), maxParameterNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-' || c == '/') {
			return fmt.Errorf("the parameter name may hold only letters, digits, _ . - and /, not %q", rune(c))
		}
	}
	if !strings.Contains(name, "/") {
		return nil // a simple name, used as it is
	}
	if name[0] != '/' {
		return fmt.Errorf("a parameter name with a \"/\" must begin with \"/\" (SSM's fully qualified name): use %q", "/"+name)
	}
	levels := strings.Split(name[1:], "/")
	if len(levels) > maxParameterDepth {
		return fmt.Errorf("the parameter name has %d levels; SSM allows %d", len(levels), maxParameterDepth)
	}
	for _, l := range levels {
		if l == "" {
			return fmt.Errorf("the parameter name has an empty level (\"//\" or a trailing \"/\")")
		}
	}
	return nil
}
