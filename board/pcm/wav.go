package pcm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ErrWAVFormat is wrapped by every error about a WAV that is not 8 kHz mono
// 16-bit PCM, so callers (the sim board's HTTP API) can answer 400.
var ErrWAVFormat = errors.New("want a WAV of 8000 Hz, mono, 16-bit signed PCM")

// maxWAVBytes bounds what ReadWAV accepts: ten minutes of 8 kHz 16-bit audio.
const maxWAVBytes = 10 * 60 * 8000 * 2

// EncodeWAV returns samples as a WAV file (RIFF, PCM, 8 kHz, mono, 16-bit).
func EncodeWAV(samples []int16, sampleRate int) []byte {
	var b bytes.Buffer
	dataLen := uint32(2 * len(samples))
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, 36+dataLen)
	b.WriteString("WAVEfmt ")
	binary.Write(&b, binary.LittleEndian, uint32(16))
	binary.Write(&b, binary.LittleEndian, uint16(1)) // PCM
	binary.Write(&b, binary.LittleEndian, uint16(1)) // mono
	binary.Write(&b, binary.LittleEndian, uint32(sampleRate))
	binary.Write(&b, binary.LittleEndian, uint32(2*sampleRate))
	binary.Write(&b, binary.LittleEndian, uint16(2))
	binary.Write(&b, binary.LittleEndian, uint16(16))
	b.WriteString("data")
	binary.Write(&b, binary.LittleEndian, dataLen)
	binary.Write(&b, binary.LittleEndian, samples)
	return b.Bytes()
}

// DecodeWAV parses a WAV file and returns its samples. It accepts only
// 8 kHz mono 16-bit PCM (WAVE_FORMAT_PCM, or EXTENSIBLE with the PCM
// subformat); anything else is an error wrapping ErrWAVFormat that says
// what was found.
func DecodeWAV(r io.Reader) ([]int16, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxWAVBytes+1024))
	if err != nil {
		return nil, fmt.Errorf("wav: read: %w", err)
	}
	if len(data) < 12 || string(data[0:4]) != "RIFF" || string(data[8:12]) != "WAVE" {
		return nil, fmt.Errorf("wav: not a RIFF/WAVE file: %w", ErrWAVFormat)
	}
	var fmtSeen bool
	p := data[12:]
	for len(p) >= 8 {
		id := string(p[0:4])
		size := binary.LittleEndian.Uint32(p[4:8])
		body := p[8:]
		if uint64(size) > uint64(len(body)) {
			if id != "data" {
				return nil, fmt.Errorf("wav: chunk %q truncated: %w", id, ErrWAVFormat)
			}
			size = uint32(len(body)) // tolerate streamed WAVs with a bogus data size
		}
		body = body[:size]
		switch id {
		case "fmt ":
			if len(body) < 16 {
				return nil, fmt.Errorf("wav: fmt chunk of %d bytes: %w", len(body), ErrWAVFormat)
			}
			format := binary.LittleEndian.Uint16(body[0:2])
			channels := binary.LittleEndian.Uint16(body[2:4])
			rate := binary.LittleEndian.Uint32(body[4:8])
			bits := binary.LittleEndian.Uint16(body[14:16])
			if format == 0xFFFE && len(body) >= 26 {
				format = binary.LittleEndian.Uint16(body[24:26]) // EXTENSIBLE: subformat GUID starts with the tag
			}
			if format != 1 || channels != 1 || rate != 8000 || bits != 16 {
				return nil, fmt.Errorf("wav: got format %d, %d channel(s), %d Hz, %d-bit: %w",
					format, channels, rate, bits, ErrWAVFormat)
			}
			fmtSeen = true
		case "data":
			if !fmtSeen {
				return nil, fmt.Errorf("wav: data before fmt chunk: %w", ErrWAVFormat)
			}
			if len(body) > maxWAVBytes {
				return nil, fmt.Errorf("wav: longer than %d bytes: %w", maxWAVBytes, ErrWAVFormat)
			}
			samples := make([]int16, len(body)/2)
			for i := range samples {
				samples[i] = int16(binary.LittleEndian.Uint16(body[2*i:]))
			}
			return samples, nil
		}
		adv := 8 + int(size) + int(size&1) // chunks are word aligned
		if adv > len(p) {
			break
		}
		p = p[adv:]
	}
	return nil, fmt.Errorf("wav: no data chunk: %w", ErrWAVFormat)
}
