"""The three-tier demo app (nginx -> Apache httpd -> Redis) that the chaos experiments target."""
