package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
)

// Problem is a setting the firmware could not use as written, and what it
// runs on instead (Fix), for the status page.
type Problem struct {
	Key string // the config key, "line[1].codecs", "sip.listen"
	Msg string // what is wrong with it
	Fix string // what runs instead: "the last working value", "the line is off"
}

func (p Problem) String() string {
	s := p.Key + ": " + p.Msg
	if p.Fix != "" {
		s += " (" + p.Fix + ")"
	}
	return s
}

// MakeUsable turns a decoded config that fails its checks into one that
// runs, so that one bad setting never keeps the whole box (and its web UI)
// down. Each failing setting takes its value from fallback (the last
// config that worked, or the built-in defaults); a [[line]] with a bad
// setting is also turned off, and dropped when even that does not make it
// valid (a line without a number). What was changed is returned, first
// found first; c is valid afterwards unless fallback itself is invalid,
// in which case the last error is returned too. extra, if not nil, checks
// what other packages own (the region's name, the dial plan's syntax) and
// returns a *KeyError like Validate's.
func (c *Config) MakeUsable(fallback *Config, extra func(*Config) error) ([]Problem, error) {
	var probs []Problem
	seen := map[string]int{}
	report := func(p Problem) {
		if n := len(probs); n > 0 && probs[n-1].Key == p.Key {
			probs[n-1] = p // the same key again: the stronger fix replaces the first
			return
		}
		probs = append(probs, p)
	}
	for range 256 { // every step fixes a key or drops a line: bounded by their number
		err := c.Validate()
		if err == nil && extra != nil {
			err = extra(c)
		}
		if err == nil {
			return probs, nil
		}
		var ke *KeyError
		if !errors.As(err, &ke) {
			return probs, err
		}
		seen[ke.Key]++
		if table, i, _, ok := tableKey(ke.Key); ok && table != "line" {
			// A user, trunk or route that cannot be used is left out whole.
			if dropEntry(c, table, i) {
				report(Problem{Key: ke.Key, Msg: ke.Msg, Fix: fmt.Sprintf("%s %d is left out", table, i+1)})
				continue
			}
		}
		if line, field, ok := lineKey(ke.Key); ok && line < len(c.Lines) {
			if seen[ke.Key] > 1 || field == "" || !setField(reflect.ValueOf(&c.Lines[line]).Elem(), strings.Split(field, "."), reflect.ValueOf(Line{})) {
				report(Problem{Key: ke.Key, Msg: ke.Msg, Fix: fmt.Sprintf("line %d is left out", line+1)})
				c.Lines = append(c.Lines[:line:line], c.Lines[line+1:]...)
				continue
			}
			off := false
			c.Lines[line].Active = &off
			report(Problem{Key: ke.Key, Msg: ke.Msg, Fix: fmt.Sprintf("line %d is off until it is fixed", line+1)})
			continue
		}
		path := strings.Split(ke.Key, ".")
		cur, fb := reflect.ValueOf(c).Elem(), reflect.ValueOf(fallback).Elem()
		switch {
		case seen[ke.Key] == 1 && setField(cur, path, fb):
			report(Problem{Key: ke.Key, Msg: ke.Msg, Fix: "running on " + describeValue(fieldByPath(cur, path))})
		case seen[ke.Key] <= 2 && setField(cur, path[:1], fb):
			// The check spans several keys of the table (flash_min with flash_max).
			report(Problem{Key: ke.Key, Msg: ke.Msg, Fix: "the whole [" + path[0] + "] table runs on its last working values"})
		default:
			return probs, fmt.Errorf("config: no usable value for %s: %w", ke.Key, err)
		}
	}
	return probs, errors.New("config: too many bad settings")
}

var (
	tableKeyRE = regexp.MustCompile(`^(line|user|trunk|route)\[(\d+)\](?:\.(.+))?$`)
	indexRE    = regexp.MustCompile(`\[\d+\]`)
)

// tableKey splits "user[1].name" into user, 1 and "name"; a list index in
// the field ("ring[2]") is dropped: the key is the list.
func tableKey(key string) (string, int, string, bool) {
	m := tableKeyRE.FindStringSubmatch(key)
	if m == nil {
		return "", 0, "", false
	}
	n, err := strconv.Atoi(m[2])
	return m[1], n, indexRE.ReplaceAllString(m[3], ""), err == nil
}

// lineKey splits "line[1].codecs" into 1 and "codecs".
func lineKey(key string) (int, string, bool) {
	table, n, field, ok := tableKey(key)
	return n, field, ok && table == "line"
}

// dropEntry removes entry i of the [[table]] array.
func dropEntry(c *Config, table string, i int) bool {
	v := reflect.ValueOf(c).Elem()
	f := v.Field(fieldIndex(v.Type(), table))
	if i >= f.Len() {
		return false
	}
	f.Set(reflect.AppendSlice(f.Slice(0, i), f.Slice(i+1, f.Len())))
	return true
}

// setField copies the field at the TOML key path from src to dst (both
// structs of the same type; for a line, src is a zero Line whose zero
// values Validate's lineDefaults fill). It reports whether the path named
// a field.
func setField(dst reflect.Value, path []string, src reflect.Value) bool {
	d, s := dst, src
	for _, name := range path {
		i := fieldIndex(d.Type(), name)
		if i < 0 {
			return false
		}
		d, s = d.Field(i), s.Field(i)
	}
	if !d.CanSet() {
		return false
	}
	d.Set(cloneValue(s))
	return true
}

func fieldByPath(v reflect.Value, path []string) reflect.Value {
	for _, name := range path {
		i := fieldIndex(v.Type(), name)
		if i < 0 {
			return reflect.Value{}
		}
		v = v.Field(i)
	}
	return v
}

// fieldIndex finds the struct field whose toml tag is name.
func fieldIndex(t reflect.Type, name string) int {
	if t.Kind() != reflect.Struct {
		return -1
	}
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ",")
		if tag == name {
			return i
		}
	}
	return -1
}

// cloneValue copies slices so the two configs share no backing array.
func cloneValue(v reflect.Value) reflect.Value {
	if v.Kind() == reflect.Slice && !v.IsNil() {
		n := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(n, v)
		return n
	}
	return v
}

func describeValue(v reflect.Value) string {
	if !v.IsValid() {
		return "its last working value"
	}
	switch x := v.Interface().(type) {
	case string:
		if x == "" {
			return "an empty value"
		}
		return strconv.Quote(x)
	case Duration:
		return strconv.Quote(x.String())
	}
	return fmt.Sprint(v.Interface())
}

// Lookup is the value at a config key ("phone.region", "line[1]",
// "line[1].codecs"), and whether the key names one.
func Lookup(c *Config, key string) (any, bool) {
	v := reflect.ValueOf(c).Elem()
	if line, field, ok := lineKey(key); ok {
		if line >= len(c.Lines) {
			return nil, false
		}
		v = reflect.ValueOf(c.Lines[line])
		if field == "" {
			return v.Interface(), true
		}
		key = field
	}
	f := fieldByPath(v, strings.Split(key, "."))
	if !f.IsValid() {
		return nil, false
	}
	return f.Interface(), true
}
