package webui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/openata/ata/config"
)

// MaxConfigUpload bounds an uploaded configuration file and the body of
// PUT /api/config: a full configuration is a few KiB, so 1 MB is a file
// that is not one. The Maintenance page states it.
const MaxConfigUpload = 1_000_000

// drainLimit is how much of a body over its limit is still read (and
// thrown away) so the browser gets the answer instead of a connection
// reset while it is still sending; past it the connection is closed.
const drainLimit = 64 << 20

// uploadedFile is a file part of a multipart form, read by readBody.
type uploadedFile struct {
	Name   string // the file name the browser gave, without directories
	Data   []byte // the content, when it is within the limit
	Size   int64  // its size; at least drainLimit when it was larger
	TooBig bool   // Size > MaxConfigUpload: Data is empty
}

type uploadKey struct{ field string }

// uploaded returns the file of the form field, or nil.
func uploaded(r *http.Request, field string) *uploadedFile {
	f, _ := r.Context().Value(uploadKey{field}).(*uploadedFile)
	return f
}

// readBody reads the body of an unsafe request to a page before its CSRF
// token is checked, so that a body over its limit gets its own message
// rather than failing the token check ("This form has expired"). A
// urlencoded form may hold maxFormBytes; a multipart form's text fields
// as much, and each file MaxConfigUpload (a bigger file is counted, not
// kept, and the handler says how big it was). It returns the request to
// go on with, or a message for a form that is too large.
func readBody(r *http.Request) (*http.Request, string) {
	if isSafeMethod(r.Method) || r.PostForm != nil {
		return r, ""
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		body := r.Body
		r.Body = http.MaxBytesReader(nil, body, maxFormBytes)
		var mbe *http.MaxBytesError
		if err := r.ParseForm(); errors.As(err, &mbe) {
			io.Copy(io.Discard, io.LimitReader(body, drainLimit))
			return r, fmt.Sprintf("Nothing was saved: the form sent is larger than %d KiB, far more than any setting takes. Go back and check what was pasted into the fields.", maxFormBytes>>10)
		}
		return r, "" // another error: the CSRF check refuses the form
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return r, ""
	}
	form := url.Values{}
	budget := int64(maxFormBytes)
	ctx := r.Context()
	for {
		part, err := mr.NextPart()
		if err != nil {
			break // io.EOF, or a broken body: what was read is judged below
		}
		name := part.FormName()
		if part.FileName() == "" {
			v, _ := io.ReadAll(io.LimitReader(part, budget+1))
			budget -= int64(len(v))
			if budget < 0 {
				io.Copy(io.Discard, io.LimitReader(r.Body, drainLimit))
				return r, fmt.Sprintf("Nothing was saved: the form's fields are larger than %d KiB.", maxFormBytes>>10)
			}
			form.Add(name, string(v))
			continue
		}
		f := &uploadedFile{Name: baseName(part.FileName())}
		data, _ := io.ReadAll(io.LimitReader(part, MaxConfigUpload+1))
		f.Size = int64(len(data))
		if f.Size > MaxConfigUpload {
			n, _ := io.Copy(io.Discard, io.LimitReader(part, drainLimit))
			f.Size += n
			f.TooBig = true
		} else {
			f.Data = data
		}
		if ctx.Value(uploadKey{name}) == nil { // the first file of a field counts
			ctx = context.WithValue(ctx, uploadKey{name}, f)
		}
		if f.Size > drainLimit {
			break // the rest is not read: the connection closes after the answer
		}
	}
	r = r.WithContext(ctx)
	r.PostForm, r.Form = form, form
	return r, ""
}

// baseName strips the directories some browsers send with a file name.
func baseName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	return name
}

// formatMB writes a size for the upload messages: "5.6 MB".
func formatMB(n int64) string {
	switch {
	case n > drainLimit:
		return fmt.Sprintf("more than %d MB", drainLimit/1_000_000)
	case n < 1_000_000:
		return fmt.Sprintf("%d kB", (n+999)/1000)
	case n%1_000_000 == 0:
		return fmt.Sprintf("%d MB", n/1_000_000)
	}
	s := fmt.Sprintf("%.1f MB", float64(n)/1e6)
	if s == "1.0 MB" {
		return "just over 1 MB"
	}
	return s
}

// tooBigMessage tells the size of an upload over the limit.
func tooBigMessage(size int64) string {
	return fmt.Sprintf("The file is %s; the limit is %s. A configuration file is a few kB: is it the right file?",
		formatMB(size), formatMB(MaxConfigUpload))
}

// uploadMessage says what is wrong with an uploaded configuration in the
// file's words: "line 1: ptime must be a whole number such as 20, not
// text in quotes (ata.toml, line 7)".
func uploadMessage(err error) string {
	var ke *config.KeyError
	var fe *config.FileError
	msg := strings.TrimPrefix(err.Error(), "config: ")
	if errors.As(err, &ke) {
		sep := ": "
		if strings.HasPrefix(ke.Msg, "must ") {
			sep = " "
		}
		msg = keyWords(ke.Key) + sep + ke.Msg
	} else if errors.As(err, &fe) {
		msg = fe.Err.Error()
	}
	if errors.As(err, &fe) {
		if fe.Line > 0 {
			msg += fmt.Sprintf(" (%s, line %d)", fe.Name, fe.Line)
		} else {
			msg += fmt.Sprintf(" (%s)", fe.Name)
		}
	}
	return sentence(lineWords(msg))
}

// tableKeyRE splits a key of an array of tables: "route[2].via".
var tableKeyRE = regexp.MustCompile(`^([a-z_]+)\[(\d+)\]\.(.+)$`)

// tableRefRE finds config's names of table elements ("line[0]",
// "trunk[1]") in a message.
var tableRefRE = regexp.MustCompile(`\b([a-z_]+)\[(\d+)\]`)

// lineWords writes "line[0]" in a message as a person counts: "line 1".
func lineWords(msg string) string {
	return tableRefRE.ReplaceAllStringFunc(msg, func(m string) string {
		sub := tableRefRE.FindStringSubmatch(m)
		n, _ := strconv.Atoi(sub[2])
		return sub[1] + " " + strconv.Itoa(n+1)
	})
}

// keyWords writes a config key as a person finds it in the file:
// "line[0].ptime" as "line 1: ptime", "route[2].via" as "route 3: via",
// "phone.region" as "[phone] region".
func keyWords(key string) string {
	if m := tableKeyRE.FindStringSubmatch(key); m != nil {
		n, _ := strconv.Atoi(m[2])
		return fmt.Sprintf("%s %d: %s", m[1], n+1, m[3])
	}
	if i := strings.LastIndexByte(key, '.'); i > 0 {
		return "[" + key[:i] + "] " + key[i+1:]
	}
	return key
}
