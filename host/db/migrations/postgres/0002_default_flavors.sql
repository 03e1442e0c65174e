-- Nova's classic flavors plus devstack's m1.nano and m1.micro.
INSERT INTO flavors (id, name, vcpus, memory_mb, root_gb, ephemeral_gb, swap_mb, is_public, disabled, created_at) VALUES
    ('1', 'm1.tiny', 1, 512, 1, 0, 0, 1, 0, 0),
    ('2', 'm1.small', 1, 2048, 20, 0, 0, 1, 0, 0),
    ('3', 'm1.medium', 2, 4096, 40, 0, 0, 1, 0, 0),
    ('4', 'm1.large', 4, 8192, 80, 0, 0, 1, 0, 0),
    ('5', 'm1.xlarge', 8, 16384, 160, 0, 0, 1, 0, 0),
    ('42', 'm1.nano', 1, 64, 0, 0, 0, 1, 0, 0),
    ('84', 'm1.micro', 1, 128, 0, 0, 0, 1, 0, 0);
