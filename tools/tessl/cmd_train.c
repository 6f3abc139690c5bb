/* `tessl train`: TeSSL pre-training from shards. Per step: the loader's next batch of pairs, the TeSSL
 * augmentations on the device, a forward/backward pass, an optimiser step (LARS, SGD or AdamW). Logs every
 * step to RUN/log.jsonl, saves RUN/checkpoint.safetensors atomically every --checkpoint-every steps, on
 * SIGINT and at the end, and resumes from it (--resume) to exactly the run an uninterrupted one would have
 * been. */
#include "tsl_checkpoint.h"
#include "tsl_cli.h"
#include "tsl_file.h"
#include "tsl_input.h"
#include "tsl_schedule.h"
#include "train_dist.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { TSL_TRAIN_MAX_GROUPS = 16 };

typedef struct {
    const char *data, *out, *arch, *projector, *init, *optimizer;
    int64_t device, width, res, batch, epochs, max_steps, seed, threads, checkpoint_every, warmup_epochs;
    double lambda, lambd, loss_scale, lr_weights, lr_biases, weight_decay;
    bool resume, classifier, quiet;
} train_args;

typedef struct {
    train_args a;
    tsl_vk_device *dev;
    tsl_loader *loader;
    tsl_input *input;
    tsl_model *model;
    tsl_vk_cmd *cmd;
    tsl_vk_buffer labels;
    tsl_model_config config;
    tsl_schedule schedule;
    uint64_t steps_per_epoch, first_step, total_steps;
    bool checkpoint_on_disk; /* RUN/checkpoint.safetensors holds `checkpoint_steps` of this run */
    uint64_t checkpoint_steps;
    char checkpoint_path[4096], log_path[4096];
    FILE *log;
    tsl_dist *dist;          /* data parallelism: rank `rank` of `ranks` (docs/DISTRIBUTED.md) */
    int rank, ranks;         /* only rank 0 writes the log and checkpoints */
    uint32_t pairs_per_rank; /* --batch (the global batch) / ranks */
    /* Gradient-norm groups of the log: the stages of the trunk and the heads (grad_group[i] for param i). */
    int n_params, n_groups;
    int *grad_group;
    char group_names[TSL_TRAIN_MAX_GROUPS][16];
    float *grad_norms;
} trainer;

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* OUT of `tessl shard` (with train/) or a split folder itself. */
static void train_split_dir(const char *data, char *out, size_t size) {
    struct stat sb;
    snprintf(out, size, "%s/train", data);
    if (stat(out, &sb) != 0 || !S_ISDIR(sb.st_mode))
        snprintf(out, size, "%s", data);
}

static tsl_status open_loader(trainer *t, tsl_loader_state start, char *dir, size_t dir_size) {
    train_split_dir(t->a.data, dir, dir_size);
    tsl_loader_options o;
    tsl_loader_options_default(&o);
    o.dir = dir;
    o.batch_size = t->pairs_per_rank;
    o.rank = (uint32_t)t->rank;
    o.world_size = (uint32_t)t->ranks;
    o.paired = true;
    o.seed = (uint64_t)t->a.seed;
    o.threads = (int)t->a.threads;
    o.start = start;
    TSL_TRY_CTX(tsl_loader_open(t->dev, &o, &t->loader), "opening the training shards in %s", dir);
    tsl_loader_info info;
    tsl_loader_info_get(t->loader, &info);
    if (info.steps_per_epoch == 0)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s holds %llu images: too few for one batch of %lld pairs",
                         dir, (unsigned long long)info.samples, (long long)t->a.batch);
    t->steps_per_epoch = info.steps_per_epoch;
    if (t->a.classifier)
        t->config.classes = info.classes;
    return TSL_OK;
}

static tsl_status model_config(trainer *t) {
    tsl_resnet_arch arch;
    TSL_TRY(tsl_resnet_arch_parse(t->a.arch, &arch));
    tsl_model_config_default(&t->config, arch);
    t->config.base_width = (int)t->a.width;
    t->config.image_h = t->config.image_w = (int)t->a.res;
    t->config.batch = t->pairs_per_rank;
    t->config.projector = t->a.projector;
    t->config.lambda = (float)t->a.lambda;
    t->config.lambd = (float)t->a.lambd;
    t->config.loss_scale = (float)t->a.loss_scale;
    /* Each weight's gradient only until its update: alone, with no allreduce to wait for. */
    t->config.update_in_backward = t->ranks == 1;
    return tsl_optimizer_parse(t->a.optimizer, &t->config.optimizer);
}

/* Each optimiser's defaults for the options left unset (NaN): LARS as Barlow Twins, SGD as SimSiam,
 * AdamW with the usual 1e-3 and decoupled decay 0.05. All are base rates, scaled by 2 x batch / 256. */
static void optimizer_defaults(train_args *a, tsl_optimizer_kind kind) {
    static const double defaults[3][3] = {
        {0.2, 0.0048, 1e-6}, /* lars: lr, lr_biases, weight_decay */
        {0.05, 0.05, 1e-4},  /* sgd */
        {1e-3, 1e-3, 0.05},  /* adamw */
    };
    double *v[3] = {&a->lr_weights, &a->lr_biases, &a->weight_decay};
    for (int i = 0; i < 3; i++)
        if (isnan(*v[i]))
            *v[i] = defaults[kind][i];
}

/* The settings a resumed run must share with the run it continues. */
static void describe_run(const trainer *t, tsl_checkpoint_meta *m) {
    tsl_checkpoint_meta_set(m, "arch", "%s", t->a.arch);
    tsl_checkpoint_meta_set(m, "width", "%lld", (long long)t->a.width);
    tsl_checkpoint_meta_set(m, "res", "%lld", (long long)t->a.res);
    tsl_checkpoint_meta_set(m, "batch", "%lld", (long long)t->a.batch);
    tsl_checkpoint_meta_set(m, "projector", "%s", t->a.projector);
    tsl_checkpoint_meta_set(m, "classes", "%u", t->config.classes);
    tsl_checkpoint_meta_set(m, "lambda", "%.9g", t->a.lambda);
    tsl_checkpoint_meta_set(m, "lambd", "%.9g", t->a.lambd);
    tsl_checkpoint_meta_set(m, "loss_scale", "%.9g", t->a.loss_scale);
    tsl_checkpoint_meta_set(m, "seed", "%lld", (long long)t->a.seed);
    tsl_checkpoint_meta_set(m, "epochs", "%lld", (long long)t->a.epochs);
    tsl_checkpoint_meta_set(m, "warmup_epochs", "%lld", (long long)t->a.warmup_epochs);
    tsl_checkpoint_meta_set(m, "lr_weights", "%.9g", t->a.lr_weights);
    tsl_checkpoint_meta_set(m, "lr_biases", "%.9g", t->a.lr_biases);
    tsl_checkpoint_meta_set(m, "weight_decay", "%.9g", t->a.weight_decay);
    tsl_checkpoint_meta_set(m, "optimizer", "%s", tsl_optimizer_name(t->config.optimizer));
}

static tsl_status save_checkpoint(trainer *t, uint64_t next_step) {
    tsl_checkpoint_meta m = {0};
    describe_run(t, &m);
    tsl_loader_state s = tsl_loader_state_get(t->loader);
    tsl_checkpoint_meta_set(&m, "next_step", "%llu", (unsigned long long)next_step);
    tsl_checkpoint_meta_set(&m, "loader_epoch", "%llu", (unsigned long long)s.epoch);
    tsl_checkpoint_meta_set(&m, "loader_step", "%llu", (unsigned long long)s.step);
    if (t->rank == 0) /* every rank holds the same state; rank 0 writes it */
        TSL_TRY(tsl_checkpoint_save(t->model, &m, t->checkpoint_path));
    t->checkpoint_on_disk = true;
    t->checkpoint_steps = next_step;
    return TSL_OK;
}

static tsl_status check_same_run(const trainer *t, const tsl_safetensors *file) {
    /* The optimiser first: its state tensors differ, so nothing else could be compared meaningfully. */
    const char *held = tsl_checkpoint_optimizer(file), *asked = tsl_optimizer_name(t->config.optimizer);
    if (strcmp(held, asked) != 0)
        return tsl_error(TSL_ERR_INVALID_ARG,
                         "%s holds the state of optimizer %s; this run asks for --optimizer %s (resume with "
                         "--optimizer %s, or start a new --out)",
                         file->path, held, asked, held);
    tsl_checkpoint_meta want = {0};
    describe_run(t, &want);
    for (int i = 0; i < want.count; i++) {
        const char *have = tsl_safetensors_meta(file, want.keys[i]);
        if (!have && strcmp(want.keys[i], "optimizer") == 0)
            have = held;
        if (!have || strcmp(have, want.values[i]) != 0)
            return tsl_error(TSL_ERR_INVALID_ARG,
                             "%s was trained with %s=%s; this run asks for %s=%s (resume with "
                             "the same settings, or start a new --out)",
                             file->path, want.keys[i], have ? have : "(unset)", want.keys[i], want.values[i]);
    }
    return TSL_OK;
}

static tsl_status read_u64_meta(const tsl_safetensors *file, const char *key, uint64_t *value) {
    const char *v = tsl_safetensors_meta(file, key);
    char *end = NULL;
    if (!v || (*value = strtoull(v, &end, 10), *end != '\0'))
        return tsl_error(TSL_ERR_FORMAT, "%s: metadata %s missing or not a number", file->path, key);
    return TSL_OK;
}

/* Keeps the lines of RUN/log.jsonl for steps before `next_step`: a run killed after logging a step but
 * before checkpointing it logged steps that the resumed run does again. Rewritten atomically. */
static tsl_status trim_log(const trainer *t, uint64_t next_step) {
    void *text = NULL;
    size_t size = 0;
    tsl_status st = tsl_read_file(t->log_path, (size_t)1 << 34, &text, &size);
    if (st == TSL_ERR_NOT_FOUND)
        return TSL_OK;
    TSL_TRY(st);
    size_t keep = 0;
    for (char *line = text; line < (char *)text + size;) {
        char *end = memchr(line, '\n', (size_t)((char *)text + size - line));
        if (!end)
            break; /* a line cut short by the kill */
        unsigned long long step;
        if (sscanf(line, "{\"step\":%llu,", &step) != 1 || step >= next_step)
            break;
        keep = (size_t)(end + 1 - (char *)text);
        line = end + 1;
    }
    st = keep == size ? TSL_OK : tsl_write_file_atomic(t->log_path, text, keep);
    free(text);
    return st;
}

/* Loads weights and position from RUN/checkpoint.safetensors; returns the loader's start state. */
static tsl_status resume(trainer *t, tsl_loader_state *start) {
    tsl_safetensors file;
    TSL_TRY(tsl_checkpoint_open(t->checkpoint_path, &file));
    tsl_status st = check_same_run(t, &file);
    if (st == TSL_OK)
        st = tsl_checkpoint_upload(t->model, &file);
    if (st == TSL_OK)
        st = read_u64_meta(&file, "next_step", &t->first_step);
    if (st == TSL_OK)
        st = read_u64_meta(&file, "loader_epoch", &start->epoch);
    if (st == TSL_OK)
        st = read_u64_meta(&file, "loader_step", &start->step);
    tsl_safetensors_free(&file);
    t->checkpoint_on_disk = st == TSL_OK;
    t->checkpoint_steps = t->first_step;
    return st == TSL_OK && t->rank == 0 ? trim_log(t, t->first_step) : st;
}

static tsl_status initial_weights(trainer *t) {
    if (!t->a.init)
        return tsl_model_init_random(t->model, (uint64_t)t->a.seed);
    TSL_TRY(tsl_model_init_random(t->model, (uint64_t)t->a.seed));
    tsl_safetensors st;
    TSL_TRY(tsl_safetensors_read(t->a.init, UINT64_C(1) << 36, &st));
    int loaded = 0;
    tsl_status s = tsl_model_load_safetensors(t->model, &st, false, &loaded);
    tsl_safetensors_free(&st);
    TSL_TRY_CTX(s, "--init %s", t->a.init);
    if (!t->a.quiet)
        fprintf(stderr, "tessl: loaded %d tensors from %s\n", loaded, t->a.init);
    return loaded ? TSL_OK
                  : tsl_error(TSL_ERR_FORMAT, "--init %s: no tensor matches the model's names", t->a.init);
}

/* Refuses a batch whose memory cannot fit the device, suggesting the largest that can. */
static tsl_status check_memory(trainer *t) {
    const tsl_vk_features *f = tsl_vk_device_features(t->dev);
    uint64_t activations = tsl_model_activation_bytes(t->model);
    uint64_t params = tsl_model_state_bytes(t->model); /* weights, gradients, optimiser state, BN stats */
    uint64_t input = 4ull * t->a.batch * 3 * t->a.res * t->a.res * 4;
    uint64_t need = activations + params + input;
    if (!t->a.quiet)
        fprintf(
            stderr,
            "tessl: memory estimate %.1f MiB (activations %.1f MiB for %lld pairs, parameters + gradients + "
            "optimizer state %.1f MiB, input %.1f MiB) of %.1f MiB on %s\n",
            need / 1048576.0, activations / 1048576.0, (long long)t->a.batch, params / 1048576.0,
            input / 1048576.0, f->device_local_bytes / 1048576.0, f->name);
    if (need <= f->device_local_bytes)
        return TSL_OK;
    uint64_t per_pair = (activations + input) / (uint64_t)t->a.batch;
    int64_t fits =
        params < f->device_local_bytes ? (int64_t)((f->device_local_bytes - params) / per_pair) : 0;
    return tsl_error(TSL_ERR_DEVICE_OOM,
                     "--batch %lld needs about %.1f GiB but %s has %.1f GiB; --batch %lld fits",
                     (long long)t->a.batch, need / 1073741824.0, f->name,
                     f->device_local_bytes / 1073741824.0, (long long)fits);
}

/* The log's gradient-norm group of a parameter: "stem" for conv1/bn1, else its first name component
 * (layer1..layer4, g_inv, g_equi, classifier). */
static void group_of(const char *name, char *out, size_t size) {
    size_t n = strcspn(name, ".");
    if ((n == 5 && strncmp(name, "conv1", 5) == 0) || (n == 3 && strncmp(name, "bn1", 3) == 0))
        snprintf(out, size, "stem");
    else
        snprintf(out, size, "%.*s", (int)n, name);
}

static tsl_status setup_grad_groups(trainer *t) {
    int n = 0;
    const tsl_model_tensor *all = tsl_model_tensors(t->model, &n);
    while (t->n_params < n && all[t->n_params].kind == TSL_MT_PARAM)
        t->n_params++;
    t->grad_group = calloc((size_t)t->n_params, sizeof *t->grad_group);
    t->grad_norms = calloc((size_t)t->n_params, sizeof *t->grad_norms);
    if (!t->grad_group || !t->grad_norms)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    for (int i = 0; i < t->n_params; i++) {
        char g[16];
        group_of(all[i].name, g, sizeof g);
        int k = 0;
        while (k < t->n_groups && strcmp(t->group_names[k], g) != 0)
            k++;
        if (k == t->n_groups) {
            if (k == TSL_TRAIN_MAX_GROUPS)
                return tsl_error(TSL_ERR_INVALID_ARG, "more than %d parameter groups", k);
            snprintf(t->group_names[t->n_groups++], sizeof t->group_names[0], "%s", g);
        }
        t->grad_group[i] = k;
    }
    return TSL_OK;
}

static tsl_status setup(trainer *t) {
    TSL_TRY(model_config(t));
    if (t->rank == 0)
        TSL_TRY(tsl_mkdirs(t->a.out));
    snprintf(t->checkpoint_path, sizeof t->checkpoint_path, "%s/checkpoint.safetensors", t->a.out);
    snprintf(t->log_path, sizeof t->log_path, "%s/log.jsonl", t->a.out);
    /* Temporaries of a checkpoint or log write that a kill interrupted. */
    if (t->rank == 0) {
        tsl_atomic_remove_stale(t->a.out, "checkpoint.safetensors");
        tsl_atomic_remove_stale(t->a.out, "log.jsonl");
    }
    int64_t device;
    TSL_TRY(tsl_train_rank_device(t->dist, t->a.device, &device));
    TSL_TRY(tsl_cli_open_device(device, &t->dev));
    char dir[4096];
    tsl_loader_state start = {0, 0};
    /* The classifier's class count comes from the shards, so the loader opens before the model; it is
     * reopened at the resume position below when resuming. */
    TSL_TRY(open_loader(t, start, dir, sizeof dir));
    TSL_TRY(tsl_model_create(t->dev, &t->config, &t->model));
    TSL_TRY(tsl_model_set_dist(t->model, t->dist));
    TSL_TRY(check_memory(t));
    if (t->a.resume) {
        TSL_TRY(resume(t, &start));
        tsl_loader_close(t->loader);
        t->loader = NULL;
        TSL_TRY(open_loader(t, start, dir, sizeof dir));
    } else {
        TSL_TRY(initial_weights(t));
    }
    tsl_input_options io = {.seed = (uint64_t)t->a.seed,
                            .max_pairs = t->pairs_per_rank,
                            .first_row = (uint64_t)t->rank * t->pairs_per_rank};
    tsl_augment_config_default(&io.config);
    tsl_augment_output_default(&io.output, (uint32_t)t->a.res);
    TSL_TRY(tsl_input_create(t->dev, &io, &t->input));
    TSL_TRY(tsl_vk_cmd_create(t->dev, &t->cmd));
    TSL_TRY(setup_grad_groups(t));
    TSL_TRY(tsl_vk_alloc(t->dev, TSL_MEM_DEVICE, 16ull * t->pairs_per_rank, "labels", &t->labels));
    t->total_steps = (uint64_t)t->a.epochs * t->steps_per_epoch;
    if (t->a.max_steps > 0 && (uint64_t)t->a.max_steps < t->total_steps)
        t->total_steps = (uint64_t)t->a.max_steps;
    /* The schedule follows --epochs even when --max-steps stops early, so a run stopped and resumed
     * uses the same learning rates. */
    t->schedule = (tsl_schedule){(uint64_t)t->a.epochs * t->steps_per_epoch,
                                 (uint64_t)t->a.warmup_epochs * t->steps_per_epoch, 2.0 * t->a.batch / 256.0};
    if (t->rank != 0)
        return TSL_OK;
    t->log = fopen(t->log_path, t->a.resume ? "a" : "w");
    if (!t->log)
        return tsl_error(TSL_ERR_IO, "opening %s for writing", t->log_path);
    return TSL_OK;
}

/* Labels in the model's quarter order t0, p0, t1, p1 from the loader's [half 1 | half 2]. */
static tsl_status upload_labels(trainer *t, const tsl_loader_batch *b) {
    uint32_t n = b->count, labels[4 * 1024];
    uint32_t *host = n <= 1024 ? labels : malloc(16ull * n);
    if (!host)
        return tsl_error(TSL_ERR_NOMEM, "out of memory");
    for (uint32_t r = 0; r < n; r++) {
        host[r] = host[n + r] = b->labels[r];
        host[2 * n + r] = host[3 * n + r] = b->labels[n + r];
    }
    tsl_status st = tsl_vk_upload(t->dev, tsl_vk_subrange(&t->labels, 0, 16ull * n), host);
    if (host != labels)
        free(host);
    return st;
}

/* Resident set size of this process in MiB (0 when /proc is unavailable). */
static double host_rss_mib(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long pages = 0, rss = 0;
    if (!f)
        return 0;
    int got = fscanf(f, "%llu %llu", &pages, &rss);
    fclose(f);
    return got == 2 ? rss * (double)sysconf(_SC_PAGESIZE) / 1048576.0 : 0;
}

/* ,"grad_norm":G,"grad_norms":{"stem":..,"layer1":..} from the step's per-tensor gradient norms. */
static void log_grad_norms(const trainer *t, FILE *f) {
    double group[TSL_TRAIN_MAX_GROUPS] = {0}, total = 0;
    for (int i = 0; i < t->n_params; i++) {
        double sq = (double)t->grad_norms[i] * t->grad_norms[i];
        group[t->grad_group[i]] += sq;
        total += sq;
    }
    fprintf(f, ",\"grad_norm\":%.6g,\"grad_norms\":{", sqrt(total));
    for (int k = 0; k < t->n_groups; k++)
        fprintf(f, "%s\"%s\":%.6g", k ? "," : "", t->group_names[k], sqrt(group[k]));
    fputc('}', f);
}

static tsl_status log_step(trainer *t, uint64_t step, uint64_t epoch, const tsl_loss_terms *l, double factor,
                           double img_s) {
    if (!t->log) /* ranks other than 0 */
        return TSL_OK;
    TSL_TRY(tsl_model_grad_norms(t->model, t->grad_norms));
    tsl_vk_memory_stats m;
    tsl_vk_memory_stats_get(t->dev, &m);
    uint64_t in_use = 0;
    for (int k = 0; k < TSL_MEM_KIND_COUNT; k++)
        in_use += m.bytes_in_use[k];
    fprintf(t->log,
            "{\"step\":%llu,\"epoch\":%llu,\"loss\":%.9g,\"inv\":%.9g,\"equi\":%.9g,\"ce\":%.9g,\"lr_"
            "weights\":%.9g,"
            "\"lr_biases\":%.9g,\"img_per_s\":%.4g,\"device_mib\":%.1f",
            (unsigned long long)step, (unsigned long long)epoch, l->total, l->inv, l->equi, l->ce,
            factor * t->a.lr_weights, factor * t->a.lr_biases, img_s,
            m.peak_bytes_in_use[TSL_MEM_DEVICE] / 1048576.0);
    log_grad_norms(t, t->log);
    fprintf(t->log, ",\"vk_in_use_mib\":%.1f,\"host_rss_mib\":%.1f}\n", in_use / 1048576.0, host_rss_mib());
    /* A full disk must stop the run, not drop log lines: the resumed run rewrites what is missing. */
    if (fflush(t->log) != 0 || ferror(t->log))
        return tsl_error(TSL_ERR_IO, "writing %s: %s", t->log_path, strerror(errno));
    return TSL_OK;
}

static void progress(const trainer *t, uint64_t step, uint64_t epoch, const tsl_loss_terms *l, double img_s,
                     double elapsed, uint64_t done) {
    if (t->a.quiet || t->rank != 0)
        return;
    double eta = done ? elapsed / done * (double)(t->total_steps - step - 1) : 0;
    fprintf(stderr,
            "\repoch %llu step %llu/%llu  loss %.4f (inv %.4f equi %.4f ce %.3f)  %.1f img/s  ETA %02d:%02d ",
            (unsigned long long)epoch, (unsigned long long)step + 1, (unsigned long long)t->total_steps,
            l->total, l->inv, l->equi, l->ce, img_s, (int)(eta / 60), (int)eta % 60);
    if (step + 1 == t->total_steps)
        fputc('\n', stderr);
}

static tsl_status train_step(trainer *t, uint64_t step, tsl_loss_terms *terms, uint64_t *epoch) {
    tsl_loader_batch b;
    TSL_TRY(tsl_loader_next(t->loader, &b));
    *epoch = b.epoch;
    TSL_TRY(upload_labels(t, &b));
    tsl_vk_range images;
    const tsl_augment_sample *samples;
    TSL_TRY(tsl_vk_cmd_begin(t->cmd));
    tsl_status st = tsl_input_record(t->input, t->cmd, &b, &images, &samples);
    TSL_TRY(tsl_vk_cmd_submit_wait(t->cmd));
    TSL_TRY(st);
    tsl_vk_range labels = tsl_vk_subrange(&t->labels, 0, 16ull * b.count);
    double factor = tsl_schedule_factor(&t->schedule, step);
    tsl_optimizer_config opt = {.lr_weights = (float)(factor * t->a.lr_weights),
                                .lr_biases = (float)(factor * t->a.lr_biases),
                                .weight_decay = (float)t->a.weight_decay,
                                .momentum = 0.9f,
                                .eta = 0.001f,
                                .beta1 = 0.9,
                                .beta2 = 0.999,
                                .eps = 1e-8,
                                .step = step + 1};
    return tsl_model_train_step(t->model, images, labels, (int64_t)step, &opt, terms);
}

static tsl_status train_loop(trainer *t) {
    double start = now_seconds();
    for (uint64_t step = t->first_step; step < t->total_steps; step++) {
        double t0 = now_seconds();
        tsl_loss_terms terms;
        uint64_t epoch = 0;
        TSL_TRY_CTX(train_step(t, step, &terms, &epoch), "training step %llu", (unsigned long long)step);
        double img_s = 4.0 * t->a.batch / (now_seconds() - t0); /* global: all ranks' images */
        TSL_TRY(log_step(t, step, epoch, &terms, tsl_schedule_factor(&t->schedule, step), img_s));
        progress(t, step, epoch, &terms, img_s, now_seconds() - start, step + 1 - t->first_step);
        bool last = step + 1 == t->total_steps;
        if (t->ranks > 1) { /* an interrupt seen by any rank stops every rank after this step */
            bool any = false;
            TSL_TRY(tsl_dist_any(t->dist, interrupted != 0, &any));
            interrupted = any;
        }
        if (interrupted || last ||
            (t->a.checkpoint_every > 0 && (step + 1) % (uint64_t)t->a.checkpoint_every == 0))
            TSL_TRY(save_checkpoint(t, step + 1));
        if (interrupted && !last)
            return tsl_error(TSL_ERR_INTERRUPTED,
                             "interrupted after step %llu; saved %s (continue with --resume)",
                             (unsigned long long)step + 1, t->checkpoint_path);
    }
    return TSL_OK;
}

/* Joins the MPI job (or runs alone) and checks that every rank was given the same training options. */
static tsl_status join_ranks(trainer *t) {
    TSL_TRY(tsl_dist_init(&t->dist));
    t->rank = tsl_dist_rank(t->dist);
    t->ranks = tsl_dist_size(t->dist);
    tsl_checkpoint_meta m = {0};
    describe_run(t, &m);
    uint64_t hash = TSL_DIST_HASH_INIT;
    for (int i = 0; i < m.count; i++) {
        hash = tsl_dist_hash(hash, m.keys[i], strlen(m.keys[i]) + 1);
        hash = tsl_dist_hash(hash, m.values[i], strlen(m.values[i]) + 1);
    }
    int64_t more[] = {t->a.max_steps, t->a.checkpoint_every, t->a.classifier, t->a.resume, t->a.init != NULL};
    hash = tsl_dist_hash(hash, more, sizeof more);
    TSL_TRY(tsl_dist_check_same_config(t->dist, hash, "options"));
    if (t->a.batch % t->ranks != 0)
        return tsl_error(TSL_ERR_INVALID_ARG,
                         "--batch %lld (pairs per step over all ranks) does not split evenly over %d ranks",
                         (long long)t->a.batch, t->ranks);
    t->pairs_per_rank = (uint32_t)(t->a.batch / t->ranks);
    return TSL_OK;
}

/* After setup: every rank sees the same shards and starts at the same step (a rank with a missing shard
 * or another checkpoint would otherwise train on something else or wait forever). */
static tsl_status check_same_start(trainer *t) {
    tsl_loader_info info;
    tsl_loader_info_get(t->loader, &info);
    uint64_t v[] = {info.samples, info.shards, info.classes, info.steps_per_epoch, t->first_step};
    return tsl_dist_check_same_config(t->dist, tsl_dist_hash(TSL_DIST_HASH_INIT, v, sizeof v),
                                      "training data or resume position (samples, shards, classes, step)");
}

/* After a failure mid-run (a lost device, a write error, a NaN), says what survives: checkpoints are
 * written atomically, so the file on disk is the last one saved, whole, and the run continues from it. */
static tsl_status note_what_survives(const trainer *t, tsl_status st) {
    if (st == TSL_OK || st == TSL_ERR_INTERRUPTED)
        return st;
    char message[1024];
    snprintf(message, sizeof message, "%s", tsl_error_message());
    if (!t->checkpoint_on_disk)
        return tsl_error(st, "%s; no checkpoint was saved yet", message);
    return tsl_error(st, "%s; %s is intact at step %llu: continue with --resume", message, t->checkpoint_path,
                     (unsigned long long)t->checkpoint_steps);
}

static void teardown(trainer *t) {
    if (t->log)
        fclose(t->log);
    if (t->dev)
        tsl_vk_free(t->dev, &t->labels);
    tsl_vk_cmd_destroy(t->cmd);
    tsl_input_destroy(t->input);
    tsl_model_destroy(t->model);
    tsl_loader_close(t->loader);
    free(t->grad_group);
    free(t->grad_norms);
}

static const char *const train_details =
    "Reads the train split of SHARDS (the OUT of tessl shard), trains a ResNet trunk with the invariant\n"
    "and equivariant projectors on the TeSSL loss (docs/METHOD.md) with LARS (or SGD, AdamW), and writes\n"
    "RUN/log.jsonl (one JSON object per step: docs/TRAIN_LOG.md) and RUN/checkpoint.safetensors\n"
    "(docs/CHECKPOINT_FORMAT.md). --batch is the number of pairs per step: a step sees 4 x batch\n"
    "augmented images. Learning rates are scaled by 2 x batch / 256 (images per view) with\n"
    "--warmup-epochs of linear warm-up, then cosine decay. Every optimizer excludes 1-D parameters\n"
    "(biases, BatchNorm) from weight decay and gives them --lr-biases. Defaults per optimizer: lars\n"
    "(Barlow Twins) --lr 0.2 --lr-biases 0.0048 --weight-decay 1e-6, momentum 0.9, eta 0.001; sgd\n"
    "--lr 0.05 --lr-biases 0.05 --weight-decay 1e-4, momentum 0.9; adamw (torch.optim.AdamW, betas\n"
    "0.9/0.999, eps 1e-8, decoupled decay) --lr 1e-3 --lr-biases 1e-3 --weight-decay 0.05.\n"
    "Ctrl-C saves a checkpoint and stops; --resume continues exactly where the run stopped.\n"
    "Data parallel: mpirun -np R tessl train ... runs one rank per GPU (by local rank unless --device);\n"
    "--batch is then the global batch (divisible by R), BatchNorm is synchronised over ranks, rank 0\n"
    "writes the run, and the result equals one process at the same batch (docs/DISTRIBUTED.md).";

int tsl_cmd_train(int argc, char **argv) {
    trainer t = {.a = {.arch = "resnet50",
                       .projector = "8192-8192-8192",
                       .out = "run",
                       .device = -1,
                       .width = 64,
                       .res = 224,
                       .batch = 64,
                       .epochs = 100,
                       .seed = 0,
                       .checkpoint_every = 1000,
                       .warmup_epochs = 10,
                       .lambda = 0.2,
                       .lambd = 0.0051,
                       .loss_scale = 1.0,
                       .optimizer = "lars",
                       .lr_weights = NAN, /* per optimizer: optimizer_defaults */
                       .lr_biases = NAN,
                       .weight_decay = NAN}};
    train_args *a = &t.a;
    tsl_opt opts[] = {
        TSL_CLI_DEVICE_OPTION(&a->device),
        {"--data", TSL_OPT_STRING, &a->data, "SHARDS", "shards written by tessl shard (required)", 0, 0},
        {"--out", TSL_OPT_STRING, &a->out, "RUN", "run folder: log.jsonl and checkpoint.safetensors", 0, 0},
        {"--arch", TSL_OPT_STRING, &a->arch, "NAME", "resnet18, resnet34 or resnet50", 0, 0},
        {"--width", TSL_OPT_INT, &a->width, "N", "base width (64: torchvision's; smaller for quick runs)", 1,
         1024},
        {"--res", TSL_OPT_INT, &a->res, "PX", "augmented image size", 8, 1024},
        {"--batch", TSL_OPT_INT, &a->batch, "PAIRS", "pairs per step over all ranks (4 x PAIRS images)", 2,
         1 << 16},
        {"--epochs", TSL_OPT_INT, &a->epochs, "N", "epochs (the schedule's length)", 1, 1 << 20},
        {"--max-steps", TSL_OPT_INT, &a->max_steps, "N", "stop after N steps in all (0: all epochs)", 0,
         INT64_MAX},
        {"--lambda", TSL_OPT_DOUBLE, &a->lambda, "L", "equivariance weight (0: plain Barlow Twins)", 0, 0},
        {"--lambd", TSL_OPT_DOUBLE, &a->lambd, "W", "Barlow Twins off-diagonal weight", 0, 0},
        {"--loss-scale", TSL_OPT_DOUBLE, &a->loss_scale, "S",
         "factor on both Barlow Twins terms (authors: 0.048)", 0, 0},
        {"--projector", TSL_OPT_STRING, &a->projector, "A-B-C", "projector sizes (both heads)", 0, 0},
        {"--classifier", TSL_OPT_FLAG, &a->classifier, NULL,
         "train an online linear classifier on detached features", 0, 0},
        {"--optimizer", TSL_OPT_STRING, &a->optimizer, "NAME", "lars, sgd or adamw", 0, 0},
        {"--lr", TSL_OPT_DOUBLE, &a->lr_weights, "LR",
         "base learning rate of weights (x 2 x batch / 256; default per optimizer)", 0, 0},
        {"--lr-biases", TSL_OPT_DOUBLE, &a->lr_biases, "LR",
         "base learning rate of biases and BatchNorm (default per optimizer)", 0, 0},
        {"--weight-decay", TSL_OPT_DOUBLE, &a->weight_decay, "WD",
         "weight decay of weights only (default per optimizer)", 0, 0},
        {"--warmup-epochs", TSL_OPT_INT, &a->warmup_epochs, "N", "epochs of linear warm-up", 0, 1 << 20},
        {"--seed", TSL_OPT_INT, &a->seed, "N", "seed of initialisation, data order and augmentations", 0,
         INT64_MAX},
        {"--threads", TSL_OPT_INT, &a->threads, "N", "loader threads (0: one per CPU)", 0, 1024},
        {"--checkpoint-every", TSL_OPT_INT, &a->checkpoint_every, "N",
         "steps between checkpoints (0: end only)", 0, INT64_MAX},
        {"--init", TSL_OPT_STRING, &a->init, "W.safetensors", "start from these weights (torchvision names)",
         0, 0},
        {"--resume", TSL_OPT_FLAG, &a->resume, NULL, "continue RUN/checkpoint.safetensors", 0, 0},
        {"--quiet", TSL_OPT_FLAG, &a->quiet, NULL, "no progress line", 0, 0},
    };
    tsl_command_spec spec = {.name = "tessl train",
                             .args = "",
                             .summary = "Pre-trains a network with TeSSL on sharded images.",
                             .details = train_details,
                             .opts = opts,
                             .n_opts = sizeof opts / sizeof opts[0]};
    tsl_args_result args;
    int rc = tsl_cli_parse(&spec, argc, argv, &args);
    if (rc != TSL_CLI_CONTINUE)
        return rc;
    if (!a->data)
        return tsl_cli_fail(tsl_error(TSL_ERR_INVALID_ARG, "tessl train: --data SHARDS is required"));
    if (a->resume && a->init)
        return tsl_cli_fail(
            tsl_error(TSL_ERR_INVALID_ARG, "tessl train: --resume and --init exclude each other"));
    tsl_optimizer_kind kind;
    tsl_status parsed = tsl_optimizer_parse(a->optimizer, &kind);
    if (parsed != TSL_OK)
        return tsl_cli_fail(tsl_error_context(parsed, "tessl train --optimizer"));
    optimizer_defaults(a, kind);
    struct sigaction sa = {.sa_handler = on_sigint};
    sigaction(SIGINT, &sa, NULL);
    /* A failure every rank knows of (joining, setup) ends each rank cleanly; any other failure on
     * one rank aborts the whole job, since the others would wait for it in a collective. */
    bool all_know = true;
    tsl_status st = join_ranks(&t);
    if (st == TSL_OK)
        st = tsl_dist_agree(t.dist, setup(&t), "setting up");
    if (st == TSL_OK)
        st = check_same_start(&t);
    if (st == TSL_OK) {
        all_know = false;
        st = note_what_survives(&t, train_loop(&t));
        if (st != TSL_OK && t.ranks > 1)
            st = tsl_error_context(st, "rank %d of %d", t.rank, t.ranks);
    }
    /* Closing waits on the device, which fails again after a loss: keep the first cause's message. */
    char cause[1024];
    snprintf(cause, sizeof cause, "%s", st != TSL_OK ? tsl_error_message() : "");
    teardown(&t);
    tsl_status closed = t.dev ? tsl_cli_close_device(t.dev) : TSL_OK;
    if (st != TSL_OK)
        tsl_error(st, "%s", cause);
    st = st != TSL_OK ? st : closed;
    if (st == TSL_OK && !a->quiet && t.rank == 0)
        fprintf(stderr, "tessl: trained %llu steps%s; checkpoint %s, log %s\n",
                (unsigned long long)t.total_steps, t.ranks > 1 ? " on all ranks" : "", t.checkpoint_path,
                t.log_path);
    rc = st == TSL_OK ? TSL_EXIT_OK : tsl_cli_fail(st);
    tsl_dist_finalize(t.dist, st != TSL_OK && !all_know);
    return rc;
}
