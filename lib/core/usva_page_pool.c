/* PLACEHOLDER: replaced by the page pool implementation. */
#include <errno.h>
#include <stdlib.h>
#include "usva_page_pool.h"
int usva_page_pool_create(const struct usva_page_pool_config *cfg, struct usva_page_pool **out) { (void)cfg; *out = NULL; return 0; }
void usva_page_pool_destroy(struct usva_page_pool *pool) { (void)pool; }
void *usva_page_alloc(struct usva_page_pool *pool) { (void)pool; void *p; return posix_memalign(&p, 4096, 4096) ? NULL : (__builtin_memset(p, 0, 4096)); }
int usva_page_alloc_bulk(struct usva_page_pool *pool, void **pages, unsigned int n) { for (unsigned i = 0; i < n; i++) pages[i] = usva_page_alloc(pool); return 0; }
void usva_page_free(struct usva_page_pool *pool, void *page, bool zeroed) { (void)pool; (void)zeroed; free(page); }
unsigned int usva_page_pool_refill(struct usva_page_pool *pool, unsigned int max) { (void)pool; (void)max; return 0; }
bool usva_page_pool_contains(const struct usva_page_pool *pool, const void *p) { (void)pool; (void)p; return true; }
static uint64_t dummy_priv;
uint64_t *usva_page_priv(struct usva_page_pool *pool, const void *page) { (void)pool; (void)page; return &dummy_priv; }
uint64_t usva_page_pool_page_size(const struct usva_page_pool *pool) { (void)pool; return 4096; }
void usva_page_pool_stats(const struct usva_page_pool *pool, struct usva_page_pool_stats *st) { (void)pool; __builtin_memset(st, 0, sizeof(*st)); }
