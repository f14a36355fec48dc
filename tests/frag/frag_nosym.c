/* frag_nosym.c - a shared library that is not a fragment (no entry point). */
__attribute__((visibility("default"))) int not_a_fragment(void) { return 42; }
