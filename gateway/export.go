package gateway

import (
	"fmt"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
)

// exportHeader starts every export: it holds the tunnels' PSKs.
const exportHeader = `# vpgw export: the running configuration in the configuration file's schema.
# It holds the tunnels' pre-shared keys: keep it as secret as the state store.
`

// ExportYAML prints cfg in exactly the configuration file's schema: every
// key of every section, durations as strings (8h0m0s), PSKs included, so
// that LoadConfig + Validate accept it and `vpgw run` on it reproduces the
// same objects. The keys come from the Config structs' yaml tags, so a key
// added to the schema is exported without changes here.
func ExportYAML(cfg *Config) ([]byte, error) {
	if cfg == nil {
		return nil, fmt.Errorf("export: no running configuration")
	}
	doc, err := exportValue("", reflect.ValueOf(cfg).Elem())
	if err != nil {
		return nil, err
	}
	out, err := yaml.MarshalWithOptions(doc, yaml.Indent(2), yaml.IndentSequence(true))
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	return append([]byte(exportHeader), out...), nil
}

// flowList is a list of scalars, written in flow style.
type flowList []any

func (f flowList) MarshalYAML() ([]byte, error) {
	return yaml.MarshalWithOptions([]any(f), yaml.Flow(true))
}

// yamlString is written plain when no YAML reader could take it for
// anything but a string, else double-quoted: a PSK such as 12345678 or
// 1e100000 must not turn into a number in another tool.
type yamlString string

func (s yamlString) MarshalYAML() ([]byte, error) {
	if plainSafe(string(s)) {
		return []byte(s), nil
	}
	return []byte(strconv.Quote(string(s))), nil
}

func plainSafe(s string) bool {
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._-/", c) >= 0) {
			return false
		}
	}
	switch strings.ToLower(s) {
	case "true", "false", "yes", "no", "on", "off", "y", "n", "null":
		return false
	}
	return true
}

func isScalarStruct(t reflect.Type) bool { return t == cfgTypeAddr || t == cfgTypePrefix }

func exportValue(path string, v reflect.Value) (any, error) {
	switch v.Type() {
	case cfgTypeDuration:
		return time.Duration(v.Int()).String(), nil
	case cfgTypeAddr:
		a := v.Interface().(netip.Addr)
		if !a.IsValid() {
			return nil, nil // null keeps the (zero) default
		}
		return a.String(), nil
	case cfgTypePrefix:
		p := v.Interface().(netip.Prefix)
		if !p.IsValid() {
			return nil, nil
		}
		return p.String(), nil
	}
	switch v.Kind() {
	case reflect.Struct:
		t := v.Type()
		var m yaml.MapSlice
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if !f.IsExported() || name == "" || name == "-" {
				continue
			}
			x, err := exportValue(cfgJoin(path, name), v.Field(i))
			if err != nil {
				return nil, err
			}
			m = append(m, yaml.MapItem{Key: name, Value: x})
		}
		return m, nil
	case reflect.Slice:
		// An empty list is written as [] (not omitted), so that it does
		// not fall back to a non-empty default when read.
		out := make([]any, v.Len())
		for i := range v.Len() {
			x, err := exportValue(fmt.Sprintf("%s[%d]", path, i), v.Index(i))
			if err != nil {
				return nil, err
			}
			out[i] = x
		}
		if v.Type().Elem().Kind() == reflect.Struct && !isScalarStruct(v.Type().Elem()) {
			return out, nil
		}
		return flowList(out), nil // [aes128, aes256]: as the file is written by hand
	case reflect.String:
		return yamlString(v.String()), nil
	case reflect.Bool:
		return v.Bool(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return v.Uint(), nil
	}
	return nil, fmt.Errorf("export: %s: unsupported kind %s", path, v.Kind())
}
