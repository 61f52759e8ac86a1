/*
 * speexref runs the speexdsp echo canceller (MDF) over recordings the Go
 * benchmark of fxs/echo writes, so that the two cancellers are compared on
 * the same signals. It is a test tool, built by the benchmark with gcc at
 * run time; the firmware does not use it (it stays pure Go).
 *
 * usage: speexref FRAME TAIL_SAMPLES PREPROCESS far.s16 mic.s16 out.s16
 *
 * far.s16 is what the earpiece played, mic.s16 what the mouthpiece
 * returned over the same samples (both 8 kHz s16le); out.s16 receives the
 * cancelled signal. PREPROCESS 1 adds speex's residual echo suppressor
 * (speex_preprocess with the echo state: speexdsp's counterpart of an
 * NLP), 0 runs the adaptive filter alone. Prints the CPU time per frame
 * in nanoseconds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <speex/speex_echo.h>
#include <speex/speex_preprocess.h>

static short *slurp(const char *path, long *n)
{
	FILE *f = fopen(path, "rb");
	if (!f) { perror(path); exit(1); }
	fseek(f, 0, SEEK_END);
	long bytes = ftell(f);
	fseek(f, 0, SEEK_SET);
	short *buf = malloc(bytes);
	if (!buf || fread(buf, 1, bytes, f) != (size_t)bytes) { fprintf(stderr, "%s: short read\n", path); exit(1); }
	fclose(f);
	*n = bytes / 2;
	return buf;
}

int main(int argc, char **argv)
{
	if (argc != 7) {
		fprintf(stderr, "usage: %s FRAME TAIL_SAMPLES PREPROCESS far.s16 mic.s16 out.s16\n", argv[0]);
		return 2;
	}
	int frame = atoi(argv[1]), tail = atoi(argv[2]), pre = atoi(argv[3]);
	long nfar, nmic;
	short *far = slurp(argv[4], &nfar), *mic = slurp(argv[5], &nmic);
	long n = (nfar < nmic ? nfar : nmic) / frame * frame;
	short *out = calloc(n, sizeof *out);
	int rate = 8000;

	SpeexEchoState *st = speex_echo_state_init(frame, tail);
	speex_echo_ctl(st, SPEEX_ECHO_SET_SAMPLING_RATE, &rate);
	SpeexPreprocessState *pp = NULL;
	if (pre) {
		pp = speex_preprocess_state_init(frame, rate);
		speex_preprocess_ctl(pp, SPEEX_PREPROCESS_SET_ECHO_STATE, st);
	}

	struct timespec t0, t1;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	for (long i = 0; i < n; i += frame) {
		speex_echo_cancellation(st, mic + i, far + i, out + i);
		if (pp)
			speex_preprocess_run(pp, out + i);
	}
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
	double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
	printf("%.0f\n", ns / (n / frame));

	FILE *f = fopen(argv[6], "wb");
	if (!f || fwrite(out, sizeof *out, n, f) != (size_t)n) { perror(argv[6]); return 1; }
	fclose(f);
	if (pp)
		speex_preprocess_state_destroy(pp);
	speex_echo_state_destroy(st);
	return 0;
}
