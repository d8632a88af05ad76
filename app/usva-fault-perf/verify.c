/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * usva-fault-perf: the check after a service-only measurement. Every
 * response (one per group, SUCCESS, private data echoed) and every page
 * (looked up through the emulated IOMMU, with the pager's bytes).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "usva_emu.h"
#include "usva_iommu.h"
#include "usva_iommu_fault.h"
#include "fault_perf.h"

uint64_t
bench_verify(struct bench *b)
{
	struct usva_emu_prg_resp *r = malloc(sizeof(*r) * DEV_REQS);
	uint8_t *seen = NULL;
	uint64_t bad = 0, total = 0, next = 0;

	if (r == NULL)
		return 1;
	for (unsigned int ii = 0; ii < b->niommu; ii++) {
		struct inst *in = &b->in[ii];

		free(seen);
		seen = calloc(in->nreq, 1);
		if (seen == NULL) {
			free(r);
			return 1;
		}
		for (unsigned int d = 0; d < in->ndev; d++) {
			int n = usva_emu_dev_responses(in->dev[d], r, DEV_REQS);

			for (int i = 0; i < n; i++) {
				uint64_t pd = r[i].private_data[0];
				unsigned int k = (unsigned int)(pd >> 16) & 0xffffffff;
				uint32_t j = (uint32_t)(pd & 0xffff);
				uint64_t idx = (uint64_t)k * GRPS + j;

				total++;
				if ((pd >> 48) != ii || k >= in->nh ||
				    j != r[i].grpid || idx >= in->nreq ||
				    in->h[k].dev != d ||
				    in->h[k].pasid != r[i].pasid ||
				    r[i].private_data[1] != in->h[k].base ||
				    r[i].code != USVA_PAGE_RESP_SUCCESS ||
				    seen[idx]++ != 0) {
					if (bad++ < 5)
						fprintf(stderr, "bad response: "
							"dev %u pasid %u grp %u "
							"code %u pd 0x%" PRIx64
							"\n", d, r[i].pasid,
							r[i].grpid, r[i].code,
							pd);
				}
			}
			if (n > 0 && usva_emu_dev_responses(in->dev[d], r, 1) != 0)
				bad++;
		}
		for (uint64_t i = 0; i < in->nreq; i++)
			if (!seen[i]) {
				if (bad++ < 5)
					fprintf(stderr, "no response for "
						"request %" PRIu64 " of "
						"instance %u\n", i, ii);
			}
		if (!b->o.verify)
			continue;
		/* Every page mapped, with the right bytes at its start. */
		for (unsigned int k = 0; k < in->nh; k++) {
			struct hnd *h = &in->h[k];

			for (uint32_t j = 0; j < h->nreq; j++, next++) {
				uint64_t va = h->base + (uint64_t)j * b->pgsz;
				struct usva_emu_xlate x;
				uint64_t want = 0, got;

				if (usva_emu_translate(in->dev[h->dev], h->pasid,
						       va, USVA_ACCESS_READ |
						       USVA_ACCESS_WRITE, &x)) {
					if (bad++ < 5)
						fprintf(stderr, "page 0x%" PRIx64
							" of PASID %u not "
							"mapped\n", va,
							h->pasid);
					continue;
				}
				memcpy(&got, x.host, 8);
				if (b->o.pager == PAGER_MIRROR)
					want = (uint64_t)((in->first + (uint64_t)k *
						GRPS + j) * b->pgsz) *
						0x9e3779b97f4a7c15ull;
				else if (b->o.pager == PAGER_FILE)
					for (int i = 7; i >= 0; i--)
						want = want << 8 | file_byte(
							(in->first + (uint64_t)k *
							 GRPS + j) * b->pgsz +
							(uint64_t)i);
				if (got != want && bad++ < 5)
					fprintf(stderr, "page 0x%" PRIx64 ": 0x%"
						PRIx64 ", expected 0x%" PRIx64
						"\n", va, got, want);
			}
		}
	}
	free(seen);
	free(r);
	if (total != b->o.faults && bad++ < 5)
		fprintf(stderr, "%" PRIu64 " responses for %" PRIu64
			" requests\n", total, b->o.faults);
	if (b->st.groups != b->o.faults || b->st.resp_success != b->o.faults)
		bad++;
	return bad;
}

