// Builds a tiny network through the installed package and checks that one
// gradient step lowers the loss.
#include <cstdio>

#include <cae/cae.hpp>

int main() {
  cae::manual_seed(0);
  cae::Sequential<float> net({4});
  net.add(cae::Linear<float>(8));
  net.add(cae::Tanh<float>());
  net.add(cae::Linear<float>(1));
  cae::MSELoss<float> loss;

  cae::Rng rng(1);
  cae::Tensor<float> x({16, 4}), y({16, 1});
  x.fill_uniform(rng, -1, 1);
  for (int i = 0; i < 16; ++i) y[i] = x[i * 4] - 0.5f * x[i * 4 + 1];

  float first = 0, last = 0;
  for (int step = 0; step < 50; ++step) {
    net.zero_grad();
    const float l = loss.forward(net.forward(x), y);
    net.backward(loss.backward());
    for (auto& p : net.parameters()) p.value->vector() -= 0.1f * p.grad->vector();
    if (step == 0) first = l;
    last = l;
  }
  std::printf("%s", net.summary().c_str());
  std::printf("downstream: loss %.4f -> %.4f\n", first, last);
  return last < 0.5f * first ? 0 : 1;
}
