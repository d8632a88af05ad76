/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Interrupts: INTx, MSI or MSI-X vectors routed to eventfds with
 * VFIO_DEVICE_SET_IRQS. DPDK's own interrupt setup (rte_intr_*) belongs to
 * its PCI bus driver and needs a probed rte_pci_device, so the ioctls are
 * made here.
 */
#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <rte_common.h>

#include "usva_alloc.h"
#include "usva_vfio_internal.h"

static const char *const irq_names[] = { "INTx", "MSI", "MSI-X" };

/* VFIO_DEVICE_SET_IRQS with @p n eventfds (or none); -errno. */
static int
set_irqs(int fd, uint32_t type, uint32_t action, uint32_t start, uint32_t n,
	 const int *fds)
{
	size_t sz = sizeof(struct vfio_irq_set) + (fds ? n * sizeof(int32_t) : 0);
	struct vfio_irq_set *set;
	int rc = 0;

	set = usva_zmalloc(sz);
	if (set == NULL)
		return -ENOMEM;
	set->argsz = (uint32_t)sz;
	set->flags = action |
		(fds ? VFIO_IRQ_SET_DATA_EVENTFD : VFIO_IRQ_SET_DATA_NONE);
	set->index = type;
	set->start = start;
	set->count = n;
	for (uint32_t i = 0; fds != NULL && i < n; i++) {
		int32_t v = fds[i];

		memcpy(set->data + i * sizeof(v), &v, sizeof(v));
	}
	if (ioctl(fd, VFIO_DEVICE_SET_IRQS, set) != 0)
		rc = -uvfio_errno(errno);
	usva_free(set);
	return rc;
}

static void
close_fds(int *fds, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static int
irq_args(const struct usva_vfio_dev *dev, uint32_t type, uint32_t n,
	 const int *eventfds)
{
	if (dev == NULL || eventfds == NULL || type > USVA_VFIO_IRQ_MSIX ||
	    n == 0) {
		USVA_LOG(ERR, vfio, "usva_vfio_irq_enable: %s",
			 dev == NULL ? "NULL device" :
			 eventfds == NULL ? "NULL eventfds" :
			 n == 0 ? "no vectors" : "unknown interrupt type");
		return -EINVAL;
	}
	return 0;
}

static int
irq_enable_locked(struct usva_vfio_dev *dev, uint32_t type, uint32_t n,
		  int *eventfds)
{
	const char *a = dev->info.pci_addr;
	int *fds;
	int rc;

	rc = uvfio_need_access(dev, "usva_vfio_irq_enable");
	if (rc)
		return rc;
	if (dev->irq_type != VFIO_NO_IRQ) {
		USVA_LOG(ERR, vfio, "%s: %s already enabled: disable it first",
			 a, irq_names[dev->irq_type]);
		return -EBUSY;
	}
	if (n > dev->info.irqs[type]) {
		USVA_LOG(ERR, vfio, "%s: %u %s vectors asked, it has %u", a, n,
			 irq_names[type], dev->info.irqs[type]);
		return -ERANGE;
	}
	fds = usva_zmalloc(n * sizeof(*fds));
	if (fds == NULL)
		return -ENOMEM;
	memset(fds, 0xff, n * sizeof(*fds));
	for (uint32_t i = 0; i < n; i++) {
		fds[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (fds[i] < 0) {
			rc = -uvfio_errno(errno);
			USVA_LOG(ERR, vfio, "%s: eventfd: %s", a, strerror(-rc));
			goto err_fds;
		}
	}
	rc = set_irqs(dev->fd, type, VFIO_IRQ_SET_ACTION_TRIGGER, 0, n, fds);
	if (rc) {
		USVA_LOG(ERR, vfio, "%s: VFIO_DEVICE_SET_IRQS, %u %s vectors: %s",
			 a, n, irq_names[type], strerror(-rc));
		goto err_fds;
	}
	dev->irq_fds = fds;
	dev->nr_irq_fds = n;
	dev->irq_type = type;
	memcpy(eventfds, fds, n * sizeof(*fds));
	return 0;

err_fds:
	close_fds(fds, n);
	usva_free(fds);
	return rc;
}

int
usva_vfio_irq_enable(struct usva_vfio_dev *dev, uint32_t type, uint32_t n,
		     int *eventfds)
{
	int rc;

	rc = irq_args(dev, type, n, eventfds);
	if (rc)
		return rc;
	pthread_mutex_lock(&uvfio_lock);
	rc = irq_enable_locked(dev, type, n, eventfds);
	pthread_mutex_unlock(&uvfio_lock);
	return rc;
}

int
usva_vfio_msix_setup(struct usva_vfio_dev *dev, uint32_t n, int *eventfds)
{
	return usva_vfio_irq_enable(dev, USVA_VFIO_IRQ_MSIX, n, eventfds);
}

void
uvfio_irq_release(struct usva_vfio_dev *dev)
{
	int rc;

	if (dev->irq_type == VFIO_NO_IRQ)
		return;
	/* DATA_NONE with a count of 0 disables the whole index. */
	rc = set_irqs(dev->fd, dev->irq_type, VFIO_IRQ_SET_ACTION_TRIGGER, 0,
		      0, NULL);
	if (rc)
		USVA_LOG(WARNING, vfio, "%s: disabling %s: %s",
			 dev->info.pci_addr, irq_names[dev->irq_type],
			 strerror(-rc));
	close_fds(dev->irq_fds, dev->nr_irq_fds);
	usva_free(dev->irq_fds);
	dev->irq_fds = NULL;
	dev->nr_irq_fds = 0;
	dev->irq_type = VFIO_NO_IRQ;
}

int
usva_vfio_irq_disable(struct usva_vfio_dev *dev)
{
	if (dev == NULL) {
		USVA_LOG(ERR, vfio, "usva_vfio_irq_disable: NULL device");
		return -EINVAL;
	}
	pthread_mutex_lock(&uvfio_lock);
	uvfio_irq_release(dev);
	pthread_mutex_unlock(&uvfio_lock);
	return 0;
}

int
usva_vfio_irq_unmask(struct usva_vfio_dev *dev)
{
	int rc;

	if (dev == NULL) {
		USVA_LOG(ERR, vfio, "usva_vfio_irq_unmask: NULL device");
		return -EINVAL;
	}
	pthread_mutex_lock(&uvfio_lock);
	if (dev->irq_type != USVA_VFIO_IRQ_INTX) {
		USVA_LOG(ERR, vfio, "%s: unmask: INTx is not enabled",
			 dev->info.pci_addr);
		rc = -EINVAL;
	} else {
		rc = set_irqs(dev->fd, USVA_VFIO_IRQ_INTX,
			      VFIO_IRQ_SET_ACTION_UNMASK, 0, 1, NULL);
		if (rc)
			USVA_LOG(ERR, vfio, "%s: INTx unmask: %s",
				 dev->info.pci_addr, strerror(-rc));
	}
	pthread_mutex_unlock(&uvfio_lock);
	return rc;
}
