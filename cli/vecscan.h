/*
 * vecscan.h - JSON numbers and arrays of numbers read straight from text,
 * for the vector imports (no JSON values built, no allocation).
 *
 * Every function reads a NUL-terminated text and never reads past its
 * terminator, except where a limit `lim` is given: then it may also read
 * any byte before lim (8 at a time), so lim must not be past the buffer.
 * Pure functions of their input; safe from any thread.
 */
#ifndef SPLCTL_VECSCAN_H
#define SPLCTL_VECSCAN_H

#include <stdint.h>

/* A JSON number at p (the JSON grammar: an optional '-', no '+', no
 * leading zeros, no bare '.', no nan/inf) as a float32, rounded exactly as
 * strtof rounds it (to nearest, ties to even; too large is +-inf, too small
 * is +-0 or a subnormal).  Typical numbers (up to 19 significant digits,
 * powers of ten 1e-64..1e38) take a fast path that is proved exact (see
 * vecscan.c); the rest go to strtof.  Returns the end of the number, or
 * NULL if p holds no JSON number. */
const char *cli_num_scan(const char *p, const char *lim, float *out);

/* The JSON array of numbers at *pp ('[' ... ']', whitespace allowed) into
 * out[dim].  Returns 0 and sets *pp past the ']'; -1: bad syntax (not an
 * array of numbers); -2: it holds *count elements, not dim; -3: element
 * *count is not a finite float32. */
int cli_vec_scan(const char **pp, const char *lim, uint32_t dim, float *out, uint32_t *count);

/* Where the value of the top-level member `name` of the JSON object that
 * text holds starts, if that value is an array ('['); NULL otherwise.  A
 * scan that knows strings (and their escapes) and nesting, so the name
 * inside a string or a deeper object is not taken for it.  It stops at the
 * member: its cost is that of the text before it. */
const char *cli_json_find_array(const char *text, const char *name);

#endif
