package config

import (
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pelletier/go-toml/v2"
)

// FileError is a problem at a line of a configuration file. Err is a
// *KeyError when the problem concerns one key.
type FileError struct {
	Name string // the file's name as the caller gave it
	Line int    // 1-based; 0 when the problem has no one line
	Err  error
}

func (e *FileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("config: %s:%d: %v", e.Name, e.Line, e.Err)
	}
	return fmt.Sprintf("config: %s: %v", e.Name, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

// mismatchRE reads go-toml's type errors: "cannot decode TOML string into
// struct field config.Line.Ptime of type int".
var mismatchRE = regexp.MustCompile(`cannot decode TOML ([a-z ]+?) into (?:struct field \S+ of type )?(\S+)$`)

// tomlWords names the kinds of TOML values as a person reads the file.
var tomlWords = map[string]string{
	"string": "text in quotes", "integer": "a whole number", "float": "a decimal number",
	"boolean": "true or false", "array": "a list", "table": "a table", "inline table": "a table",
	"datetime": "a date", "local datetime": "a date", "local date": "a date", "local time": "a time",
}

// kindWords says what a value of Go type t is written as in the file.
func kindWords(t reflect.Type, key string) string {
	if t == reflect.TypeFor[Duration]() {
		return "a duration in quotes"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return kindWords(t.Elem(), key)
	case reflect.String:
		return "text in quotes"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Struct {
			return "[[" + key + "]] tables"
		}
		return "a list in brackets of " + kindWords(t.Elem(), key)
	case reflect.Struct:
		return "a [" + key + "] table"
	}
	return t.String()
}

// example writes v as the file would hold it, "" when it shows nothing.
func example(v reflect.Value) string {
	if !v.IsValid() {
		return ""
	}
	if d, ok := v.Interface().(Duration); ok {
		return strconv.Quote(d.String())
	}
	switch v.Kind() {
	case reflect.String:
		if v.String() == "" {
			return ""
		}
		return strconv.Quote(v.String())
	case reflect.Bool, reflect.Int, reflect.Int64:
		return fmt.Sprint(v.Interface())
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.String || v.Len() == 0 {
			return ""
		}
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = strconv.Quote(v.Index(i).String())
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return ""
}

// decodeKeyError turns the decoder's error about a key into a *KeyError
// in a person's words: the key with its line index and what the value
// must be, with the default as an example. It returns nil when the key
// is not one of the configuration's.
func decodeKeyError(data []byte, de *toml.DecodeError) *KeyError {
	path := de.Key()
	if len(path) == 0 {
		return nil
	}
	row, _ := de.Position()
	typ := reflect.TypeFor[Config]()
	def := reflect.ValueOf(builtin()).Elem()
	key := ""
	for _, name := range path {
		f, ok := tomlField(typ, name)
		if !ok {
			return nil
		}
		key = join(key, name)
		typ = f.Type
		def = def.FieldByIndex(f.Index)
		if typ.Kind() == reflect.Slice && typ.Elem().Kind() == reflect.Struct && len(path) > 1 && name != path[len(path)-1] {
			// An element of [[line]]: which one, from the headers above the row.
			if n := tableIndexAt(data, name, row); n >= 0 {
				key += fmt.Sprintf("[%d]", n)
			}
			typ = typ.Elem()
			probe := &Config{Lines: []Line{{}}}
			probe.lineDefaults()
			def = reflect.ValueOf(&probe.Lines[0]).Elem()
		}
	}
	msg := strings.TrimPrefix(de.Error(), "toml: ")
	m := mismatchRE.FindStringSubmatch(msg)
	if m == nil {
		return &KeyError{Key: key, Msg: msg}
	}
	got := tomlWords[m[1]]
	if got == "" {
		got = m[1]
	}
	want := kindWords(typ, key)
	if ex := example(def); ex != "" {
		want += " such as " + ex
	}
	if typ.Kind() == reflect.Slice && !strings.HasPrefix(m[2], "[]") {
		return &KeyError{Key: key, Msg: fmt.Sprintf("must be %s; it holds %s", want, got)}
	}
	return &KeyError{Key: key, Msg: fmt.Sprintf("must be %s, not %s", want, got)}
}

// tomlField finds the struct field of t whose toml tag is name.
func tomlField(t reflect.Type, name string) (reflect.StructField, bool) {
	if t.Kind() != reflect.Struct {
		return reflect.StructField{}, false
	}
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ",")
		if tag == name {
			return t.Field(i), true
		}
	}
	return reflect.StructField{}, false
}

// tableIndexAt is the index of the [[name]] table that row (1-based) is
// in, counting its headers from the top; -1 before the first.
func tableIndexAt(data []byte, name string, row int) int {
	n := -1
	for i, line := range strings.Split(string(data), "\n") {
		if i+1 > row {
			break
		}
		if strings.HasPrefix(strings.TrimSpace(line), "[["+name+"]]") {
			n++
		}
	}
	return n
}

// keyLine finds the line (1-based) that sets key ("sip.user_agent",
// "phone.feature_codes.dnd_on") in data, or 0: a best effort for errors
// the checks find after decoding, which have no position of their own.
func keyLine(data []byte, key string) int {
	if !strings.Contains(key, ".") || strings.Contains(key, "[") {
		return 0
	}
	cur := ""
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			cur = strings.TrimSpace(strings.Trim(strings.SplitN(line, "#", 2)[0], " []"))
			continue
		}
		k, _, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		if join(cur, k) == key {
			return i + 1
		}
	}
	return 0
}

// unknownKeys lists the keys the configuration does not have, each with
// its line; a file of garbage names a few and counts the rest, and a
// key is cut short, so the message fits on a page.
func unknownKeys(name string, strict *toml.StrictMissingError) error {
	const most, longest = 5, 64
	msgs := make([]string, 0, most+1)
	for i, e := range strict.Errors {
		if i == most {
			msgs = append(msgs, fmt.Sprintf("and %d more unknown keys", len(strict.Errors)-most))
			break
		}
		row, _ := e.Position()
		key := strings.Join(e.Key(), ".")
		if utf8.RuneCountInString(key) > longest {
			key = string([]rune(key)[:longest]) + "…"
		}
		msgs = append(msgs, fmt.Sprintf("%s:%d: unknown key %q", name, row, key))
	}
	return fmt.Errorf("config: %s", strings.Join(msgs, "; "))
}
