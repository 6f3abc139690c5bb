/* The learning-rate schedule of Barlow Twins' main.py (adjust_learning_rate): linear warm-up from 0,
 * then a cosine decay to 0.001 x base; the base rate scales with the batch as batch / 256. */
#ifndef TSL_SCHEDULE_H
#define TSL_SCHEDULE_H

#include <stdint.h>

typedef struct {
    uint64_t total_steps, warmup_steps;
    double batch_scale; /* images per view / 256 */
} tsl_schedule;

/* The multiplier for `step` (0-based); the learning rate of a group is this times its base rate. */
double tsl_schedule_factor(const tsl_schedule *schedule, uint64_t step);

#endif
