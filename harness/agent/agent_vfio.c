// SPDX-License-Identifier: GPL-2.0-only
/*
 * Generic VFIO: open a platform device through its group (container + type1 or
 * no-IOMMU) or its cdev, and describe it. Built against the uAPI headers of the
 * kernel under test, so the cdev path exists only where that kernel has it.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/vfio.h>

#include "agent.h"

/* Group number of a platform or fsl-mc device (dprc.2), from its sysfs iommu_group link; -1 if none. */
static int device_group(const char *name)
{
	static const char *const buses[] = { "platform", "fsl-mc" };
	char link[PATH_MAX], target[PATH_MAX];
	ssize_t n = -1;
	const char *slash;

	for (unsigned int i = 0; i < sizeof(buses) / sizeof(buses[0]) && n < 0; i++) {
		snprintf(link, sizeof(link), "/sys/bus/%s/devices/%s/iommu_group", buses[i], name);
		n = readlink(link, target, sizeof(target) - 1);
	}
	if (n < 0)
		return -1;
	target[n] = '\0';
	slash = strrchr(target, '/');
	return slash ? atoi(slash + 1) : -1;
}

/* Groups this process has set up. A group can be in one container only and be opened once, but
 * several devices may share it (in type1 an fsl-mc container's objects are one group, as DPDK's
 * fslmc bus finds them): a second device of a known group gets dup()s of the group and container
 * fds, so each device closes its own and the container's DMA mappings serve them all. The table
 * keeps its own dup()s until the process exits. */
static struct { int group, group_fd, container_fd; bool noiommu; } known[16];
static unsigned int n_known;

static bool reuse_group(int group, struct agent_vfio_device *dev)
{
	for (unsigned int i = 0; i < n_known; i++) {
		if (known[i].group != group)
			continue;
		dev->group_fd = dup(known[i].group_fd);
		dev->container_fd = dup(known[i].container_fd);
		dev->noiommu = known[i].noiommu;
		return true;
	}
	return false;
}

static void remember_group(int group, struct agent_vfio_device *dev)
{
	if (n_known == sizeof(known) / sizeof(known[0]))
		return;
	known[n_known].group = group;
	known[n_known].group_fd = dup(dev->group_fd);
	known[n_known].container_fd = dup(dev->container_fd);
	known[n_known].noiommu = dev->noiommu;
	n_known++;
}

/* The group and a container with an IOMMU set (type1, else no-IOMMU), but not the device: the
 * container's DMA mappings exist before anyone opens the device (and runs its reset handler). */
int agent_vfio_open_group(const char *name, struct agent_vfio_device *dev)
{
	char path[PATH_MAX];
	struct vfio_group_status status = { .argsz = sizeof(status) };
	int group = device_group(name);
	int type;

	if (group < 0) {
		agent_json_errno("find_group", name, ENODEV);
		return -1;
	}
	if (reuse_group(group, dev))
		return 0;
	snprintf(path, sizeof(path), "/dev/vfio/%d", group);
	dev->group_fd = open(path, O_RDWR);
	if (dev->group_fd < 0 && errno == ENOENT) {
		snprintf(path, sizeof(path), "/dev/vfio/noiommu-%d", group);
		dev->group_fd = open(path, O_RDWR);
		dev->noiommu = true;
	}
	if (dev->group_fd < 0) {
		agent_json_errno("open_group", path, errno);
		return -1;
	}
	AGENT_CHECK_IOCTL(dev->group_fd, VFIO_GROUP_GET_STATUS, &status);
	AGENT_CHECK_EQ(status.flags & VFIO_GROUP_FLAGS_VIABLE, VFIO_GROUP_FLAGS_VIABLE);

	dev->container_fd = open("/dev/vfio/vfio", O_RDWR);
	if (dev->container_fd < 0) {
		agent_json_errno("open_container", "/dev/vfio/vfio", errno);
		return -1;
	}
	AGENT_CHECK_EQ(ioctl(dev->container_fd, VFIO_GET_API_VERSION), VFIO_API_VERSION);
	AGENT_CHECK_IOCTL(dev->group_fd, VFIO_GROUP_SET_CONTAINER, &dev->container_fd);
	type = dev->noiommu ? VFIO_NOIOMMU_IOMMU : VFIO_TYPE1v2_IOMMU;
	if (!dev->noiommu && ioctl(dev->container_fd, VFIO_CHECK_EXTENSION, type) != 1)
		type = VFIO_TYPE1_IOMMU;
	AGENT_CHECK_IOCTL(dev->container_fd, VFIO_SET_IOMMU, type);
	remember_group(group, dev);
	return 0;
}

static int open_group_path(const char *name, struct agent_vfio_device *dev)
{
	if (agent_vfio_open_group(name, dev))
		return -1;
	dev->device_fd = ioctl(dev->group_fd, VFIO_GROUP_GET_DEVICE_FD, name);
	if (dev->device_fd < 0) {
		agent_json_errno("VFIO_GROUP_GET_DEVICE_FD", name, errno);
		return -1;
	}
	dev->path = "group";
	return 0;
}

#ifdef VFIO_DEVICE_BIND_IOMMUFD
/* The cdev of a device: /sys/bus/platform/devices/<name>/vfio-dev/vfioN -> /dev/vfio/devices/vfioN. */
static int open_cdev_path(const char *name, struct agent_vfio_device *dev)
{
	char dir[PATH_MAX], path[PATH_MAX] = "";
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "/sys/bus/platform/devices/%s/vfio-dev", name);
	d = opendir(dir);
	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, "vfio", 4))
			snprintf(path, sizeof(path), "/dev/vfio/devices/%s", de->d_name);
	closedir(d);
	if (!path[0])
		return -1;
	dev->device_fd = open(path, O_RDWR);
	if (dev->device_fd < 0) {
		agent_json_errno("open_cdev", path, errno);
		return -1;
	}
	/* No-IOMMU cdevs bind with iommufd = -1; otherwise /dev/iommu provides one. */
	dev->iommufd = open("/dev/iommu", O_RDWR);
	bind.iommufd = dev->iommufd;
	dev->noiommu = dev->iommufd < 0;
	AGENT_CHECK_IOCTL(dev->device_fd, VFIO_DEVICE_BIND_IOMMUFD, &bind);
	dev->path = "cdev";
	return 0;
}
#endif

void agent_vfio_init(struct agent_vfio_device *dev, const char *name)
{
	memset(dev, 0, sizeof(*dev));
	snprintf(dev->name, sizeof(dev->name), "%s", name);
	dev->container_fd = dev->group_fd = dev->device_fd = dev->iommufd = -1;
}

int agent_vfio_open(const char *name, struct agent_vfio_device *dev)
{
	agent_vfio_init(dev, name);
	if (getenv("AGENT_VFIO_PATH") && !strcmp(getenv("AGENT_VFIO_PATH"), "cdev")) {
#ifdef VFIO_DEVICE_BIND_IOMMUFD
		return open_cdev_path(name, dev);
#else
		agent_json_errno("open_cdev", "built without VFIO_DEVICE_BIND_IOMMUFD in <linux/vfio.h>", ENOTSUP);
		return -1;
#endif
	}
	return open_group_path(name, dev);
}

void agent_vfio_close(struct agent_vfio_device *dev)
{
	if (dev->device_fd >= 0)
		close(dev->device_fd);
	if (dev->group_fd >= 0)
		close(dev->group_fd);
	if (dev->container_fd >= 0)
		close(dev->container_fd);
	if (dev->iommufd >= 0)
		close(dev->iommufd);
	dev->device_fd = dev->group_fd = dev->container_fd = dev->iommufd = -1;
}

int agent_vfio_describe(struct agent_vfio_device *dev)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };
	struct agent_json j;
	unsigned int i;

	AGENT_CHECK_IOCTL(dev->device_fd, VFIO_DEVICE_GET_INFO, &info);
	agent_json_begin(&j, "device");
	agent_json_str(&j, "name", dev->name);
	agent_json_str(&j, "path", dev->path);
	agent_json_bool(&j, "noiommu", dev->noiommu);
	agent_json_hex(&j, "flags", info.flags);
	agent_json_bool(&j, "platform", info.flags & VFIO_DEVICE_FLAGS_PLATFORM);
	agent_json_bool(&j, "fsl_mc", info.flags & VFIO_DEVICE_FLAGS_FSL_MC);
	agent_json_bool(&j, "reset", info.flags & VFIO_DEVICE_FLAGS_RESET);
	agent_json_int(&j, "num_regions", info.num_regions);
	agent_json_int(&j, "num_irqs", info.num_irqs);
	agent_json_end(&j);

	for (i = 0; i < info.num_regions; i++) {
		struct vfio_region_info r = { .argsz = sizeof(r), .index = i };

		AGENT_CHECK_IOCTL(dev->device_fd, VFIO_DEVICE_GET_REGION_INFO, &r);
		agent_json_begin(&j, "region");
		agent_json_int(&j, "index", i);
		agent_json_hex(&j, "size", r.size);
		agent_json_hex(&j, "offset", r.offset);
		agent_json_hex(&j, "flags", r.flags);
		agent_json_end(&j);
	}
	for (i = 0; i < info.num_irqs; i++) {
		struct vfio_irq_info q = { .argsz = sizeof(q), .index = i };

		AGENT_CHECK_IOCTL(dev->device_fd, VFIO_DEVICE_GET_IRQ_INFO, &q);
		agent_json_begin(&j, "irq");
		agent_json_int(&j, "index", i);
		agent_json_int(&j, "count", q.count);
		agent_json_hex(&j, "flags", q.flags);
		agent_json_end(&j);
	}
	return 0;
}

/* Map `size` bytes at `va` to `iova` in the device's type1 container (VFIO_IOMMU_MAP_DMA): the
 * kernel pins the pages and writes the IOMMU's tables. */
int agent_vfio_map_dma(struct agent_vfio_device *dev, volatile void *va, uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map), .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uint64_t)(uintptr_t)va, .iova = iova, .size = size,
	};
	struct agent_json j;

	AGENT_CHECK_IOCTL(dev->container_fd, VFIO_IOMMU_MAP_DMA, &map);
	agent_json_begin(&j, "dma_map");
	agent_json_hex(&j, "iova", iova);
	agent_json_hex(&j, "size", size);
	agent_json_end(&j);
	return 0;
}

/* iommu-attach --device NAME: the group into a new container with its IOMMU set (VFIO_SET_IOMMU
 * attaches the group to a type1 domain), the device never opened; an "iommu_attach" line, or the
 * refusal (check_failed with errno: EPERM is type1's isolated-MSI rule). */
int agent_cmd_iommu_attach(int argc, char **argv)
{
	const char *name = agent_arg(argc, argv, "--device", NULL);
	struct agent_vfio_device dev;
	struct agent_json j;

	if (!name) {
		fprintf(stderr, "iommu-attach --device NAME\n");
		return 2;
	}
	agent_vfio_init(&dev, name);
	if (agent_vfio_open_group(name, &dev))
		return 1;
	agent_json_begin(&j, "iommu_attach");
	agent_json_str(&j, "device", name);
	agent_json_bool(&j, "noiommu", dev.noiommu);
	agent_json_end(&j);
	agent_vfio_close(&dev);
	return 0;
}
